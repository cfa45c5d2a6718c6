import { versionRouteName } from '@nimbus/api';
import { VERSION_HEADER, unitOf } from '@nimbus/api/traffic';
import { Problem, problems } from '../http/problems.js';
import type { FunctionRoute, RouteTable } from '../routing/route-table.js';
import { NO_VERSION_YET } from '../routing/version-splits.js';
import type { BufferedRequest } from './buffered-call.js';

export { VERSION_HEADER };

/** How a call asks for a version: a pin (header, by name or tag) or a tag (path), else by share. */
export interface VersionAsk {
  /** The X-Nimbus-Version header's value: a version's name or a tag. */
  readonly pin?: string | undefined;
  /** The tag a `/function/{name}@{tag}` path names. */
  readonly tag?: string | undefined;
}

/**
 * The route that serves a call to `route`'s Function, once the Function's own admission (auth,
 * rate limit, its http routes) passed. An unversioned Function serves on its own route and
 * ignores a pin header, as before versions. A versioned one serves on the version its traffic
 * picks for `unit` (a draw in [0, 1): random for a sync call, unitOf(id) for a queued one), or on
 * the version a pin or tag names: only a version the Function's traffic names, by share or tag,
 * can be reached, however a caller asks (a 404 otherwise, and nothing is forwarded).
 */
export function versionRouteOf(
  table: RouteTable,
  route: FunctionRoute,
  unit: () => number,
  ask: VersionAsk,
): FunctionRoute | Problem {
  const split = table.versions.of(route.key);
  if (split === undefined) {
    return ask.tag === undefined ? route : problems.versionNotReachable(route.name, `@${ask.tag}`);
  }
  if (split === NO_VERSION_YET) return problems.noVersionYet(route.name);
  let version: string | undefined;
  if (ask.tag !== undefined) {
    version = split.tagged(ask.tag);
    if (version === undefined) return problems.versionNotReachable(route.name, `@${ask.tag}`);
  } else if (ask.pin !== undefined && ask.pin !== '') {
    version = split.pinned(ask.pin.trim());
    if (version === undefined) return problems.versionNotReachable(route.name, ask.pin);
  } else version = split.pick(unit());
  const served = table.get(route.namespace, versionRouteName(route.name, version));
  // The source makes a route for every version the split names before it sets the split.
  return served ?? problems.noVersionYet(route.name);
}

/**
 * The version a pin or tag asks for, checked against the Function's traffic now: undefined when
 * the call asks for none (or the Function is unversioned and only the header asks: it is
 * ignored, as before versions), a Problem when it asks for one the traffic does not reach.
 */
export function pinnedVersionOf(
  table: RouteTable,
  route: FunctionRoute,
  ask: VersionAsk,
): string | undefined | Problem {
  if (ask.tag === undefined && (ask.pin === undefined || ask.pin === '')) return undefined;
  const served = versionRouteOf(table, route, () => 0, ask);
  if (served instanceof Problem) return served;
  return served === route ? undefined : served.version;
}

/** A header's one value: a repeated header is not a pin (Node joins repeats with commas). */
export function pinOf(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The version route for a call the gateway makes itself (a queued call's attempt, a trigger's
 * event, a schedule's tick), and the request without its pin. Its x-call-id picks the version
 * (unitOf), so every attempt of one call or event goes to the same one; a pin stored with a
 * queued call (VERSION_HEADER) is held to the Function's traffic as it stands now.
 */
export function versionOfBuffered(
  table: RouteTable,
  route: FunctionRoute,
  request: BufferedRequest,
): { served: FunctionRoute; sent: BufferedRequest } | Problem {
  const id = request.headers['x-call-id'];
  const served = versionRouteOf(table, route, () => (id === undefined ? Math.random() : unitOf(id)), {
    pin: request.headers[VERSION_HEADER],
  });
  if (served instanceof Problem) return served;
  if (!(VERSION_HEADER in request.headers)) return { served, sent: request };
  // A pin is the gateway's to read, never the function's.
  const { [VERSION_HEADER]: _, ...headers } = request.headers;
  return { served, sent: { ...request, headers } };
}
