import type { Condition, HttpMethod, HttpRoute } from './function.js';

/**
 * Which Function gets a route when two declare routes that would match the same requests. The
 * controller (for the RoutesReady condition) and every gateway (for matching) run the same rule
 * on the Functions they see, so they agree without talking: the earlier Function keeps the
 * route (creationTimestamp, then namespace/name), the later one is refused it, never silently.
 */

/** The condition that says whether every route of a Function is served. */
export const ROUTES_CONDITION = 'RoutesReady';
export const ROUTE_CONFLICT = 'RouteConflict';

/** One segment of a path template. */
export type TemplateSegment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'rest'; name: string };

/** `/a/{id}/{path...}` → its segments; `/` has none. Assumes a template the schema accepted. Pure. */
export function parseTemplate(path: string): TemplateSegment[] {
  if (path === '/') return [];
  return path
    .slice(1)
    .split('/')
    .map((s): TemplateSegment => {
      if (!s.startsWith('{')) return { kind: 'literal', value: s };
      if (s.endsWith('...}')) return { kind: 'rest', name: s.slice(1, -4) };
      return { kind: 'param', name: s.slice(1, -1) };
    });
}

/** The template with parameter names left out: `/a/{id}` and `/a/{key}` match the same requests. Pure. */
export function templateShape(path: string): string {
  return `/${parseTemplate(path)
    .map((s) => (s.kind === 'literal' ? s.value : s.kind === 'param' ? '{}' : '{...}'))
    .join('/')}`;
}

/** A Function's routes, as far as deciding who holds them needs. */
export interface RouteOwner {
  /** `namespace/name`. */
  key: string;
  creationTimestamp?: string | undefined;
  routes: readonly HttpRoute[];
}

export interface RouteConflict {
  /** Its place in the Function's spec.http.routes. */
  index: number;
  route: HttpRoute;
  /** `namespace/name` of the Function that holds it. */
  holder: string;
}

export interface RouteClaims {
  /** By Function key: the indexes of the routes it holds. */
  granted: Map<string, number[]>;
  /** By Function key: the routes it was refused; a Function without any is absent. */
  conflicts: Map<string, RouteConflict[]>;
}

const overlaps = (a: readonly HttpMethod[] | undefined, b: readonly HttpMethod[] | undefined): boolean =>
  a === undefined || b === undefined || a.some((m) => b.includes(m));

/** Earlier first: creationTimestamp (RFC 3339 sorts as text), then namespace/name. Pure. */
export function claimOrder(a: RouteOwner, b: RouteOwner): number {
  const at = a.creationTimestamp ?? '';
  const bt = b.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Hands out every route, earlier Functions first: a route whose host and shape another Function
 * already holds with a method in common is refused. Within one Function, routes never conflict
 * (the schema refuses exact duplicates; the matcher takes the first of two alike). Pure.
 */
export function resolveRouteClaims(owners: Iterable<RouteOwner>): RouteClaims {
  const sorted = [...owners].sort(claimOrder);
  const held = new Map<string, { methods: readonly HttpMethod[] | undefined; holder: string }[]>();
  const granted = new Map<string, number[]>();
  const conflicts = new Map<string, RouteConflict[]>();
  for (const owner of sorted) {
    const mine: number[] = [];
    const refused: RouteConflict[] = [];
    const claimed: [string, HttpRoute][] = [];
    owner.routes.forEach((route, index) => {
      const slot = `${route.host ?? ''} ${templateShape(route.path)}`;
      const holder = held
        .get(slot)
        ?.find((h) => h.holder !== owner.key && overlaps(h.methods, route.methods));
      if (holder !== undefined) refused.push({ index, route, holder: holder.holder });
      else {
        mine.push(index);
        claimed.push([slot, route]);
      }
    });
    // Claimed after the loop, so a Function's own routes never count against each other.
    for (const [slot, route] of claimed) {
      const list = held.get(slot) ?? [];
      list.push({ methods: route.methods, holder: owner.key });
      held.set(slot, list);
    }
    granted.set(owner.key, mine);
    if (refused.length > 0) conflicts.set(owner.key, refused);
  }
  return { granted, conflicts };
}

/** How a route reads in a message: `GET,POST /api/orders/{id} on api.example.com`. Pure. */
export function describeRoute(route: HttpRoute): string {
  const methods = route.methods === undefined ? 'any method' : route.methods.join(',');
  return `${methods} ${route.path}${route.host === undefined ? '' : ` on ${route.host}`}`;
}

/** RoutesReady for a Function with routes: False naming each refused route and its holder. Pure. */
export function routesCondition(conflicts: readonly RouteConflict[] | undefined): Condition {
  if (conflicts === undefined || conflicts.length === 0) {
    return {
      type: ROUTES_CONDITION,
      status: 'True',
      reason: 'RoutesAccepted',
      message: 'every route is served',
    };
  }
  const message = conflicts
    .map(
      (c) => `route ${describeRoute(c.route)} (spec.http.routes[${c.index}]) is held by Function ${c.holder}`,
    )
    .join('; ');
  return { type: ROUTES_CONDITION, status: 'False', reason: ROUTE_CONFLICT, message };
}
