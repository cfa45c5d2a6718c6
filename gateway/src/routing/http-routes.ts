import type { HttpRoute } from '@nimbus/api';
import { reachesInternalRoute } from '@nimbus/api/internal-path';
import { type RouteOwner, parseTemplate, resolveRouteClaims } from '@nimbus/api/route-claims';
import { type CompiledCors, compileCors } from './cors.js';
import { RefusedPath, RouteTrie, type TrieEntry } from './route-trie.js';

export { RefusedPath } from './route-trie.js';

/** A route the gateway serves: whose it is, and its CORS policy. */
export interface RouteTarget {
  /** The Function's `namespace/name`, as the route table keys it. */
  readonly fnKey: string;
  readonly path: string;
  readonly cors: CompiledCors | undefined;
  /** With auth jwt: what this route's callers must carry besides the Function's own requirements. */
  readonly jwt: HttpRoute['jwt'];
}

export type RouteLookup =
  | { kind: 'none' }
  | { kind: 'refused'; why: string; internal: boolean }
  | { kind: 'method'; allow: string[] }
  | { kind: 'found'; target: RouteTarget; params: string };

const NONE: RouteLookup = { kind: 'none' };
const NO_REQUIREMENTS: readonly NonNullable<HttpRoute['jwt']>[] = [];

/**
 * Every Function's spec.http.routes, as the gateway serves them. Functions are set and removed
 * as their source sees them; the routes are then handed out by the rule the controller uses
 * (api/src/route-claims.ts), so a conflicting route is served by the Function that holds it and
 * by no other. The tries are rebuilt once per burst of changes, never per request.
 */
export class HttpRoutes {
  private readonly owners = new Map<string, RouteOwner>();
  private readonly requirements = new Map<string, readonly NonNullable<HttpRoute['jwt']>[]>();
  private dirty = false;
  private anyHost: RouteTrie<RouteTarget> | undefined;
  private exactHosts = new Map<string, RouteTrie<RouteTarget>>();
  /** `.example.com` for `*.example.com`, longest first: the more specific suffix wins. */
  private wildcardHosts: [string, RouteTrie<RouteTarget>][] = [];
  private count = 0;
  /** The routes without a host, as a list of at most one trie. */
  private hostless: readonly RouteTrie<RouteTarget>[] = [];

  /** Sets a Function's routes; none removes it. `key` is `namespace/name`. */
  set(key: string, creationTimestamp: string | undefined, routes: readonly HttpRoute[] | undefined): void {
    const had = this.owners.has(key);
    this.requirements.delete(key);
    if (routes === undefined || routes.length === 0) {
      if (!had) return;
      this.owners.delete(key);
    } else {
      this.owners.set(key, { key, creationTimestamp, routes });
      const asked = routes.flatMap((r) => (r.jwt === undefined ? [] : [r.jwt]));
      if (asked.length > 0) this.requirements.set(key, asked);
    }
    this.changed();
  }

  remove(key: string): void {
    this.requirements.delete(key);
    if (this.owners.delete(key)) this.changed();
  }

  /**
   * Every token requirement the Function's routes ask for, all of which a call that does not come
   * by one of them (`/function/{name}`, `/async-function/{name}`) must meet: otherwise a route's
   * scope could be sidestepped by calling the function by name with the route's path after it.
   */
  requirementsOf(key: string): readonly NonNullable<HttpRoute['jwt']>[] {
    return this.requirements.get(key) ?? NO_REQUIREMENTS;
  }

  /** Routes served, refused ones not counted. */
  get size(): number {
    this.rebuildIfDirty();
    return this.count;
  }

  /**
   * The route for a request: `url` as received (path and query), `host` its Host header. Dot
   * segments (plain or encoded), malformed escapes and paths that reach the runtime's internal
   * routes are refused rather than matched. `params` is the JSON the replica gets.
   */
  match(method: string, host: string | undefined, url: string): RouteLookup {
    this.rebuildIfDirty();
    if (this.count === 0) return NONE;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path.charCodeAt(0) !== 47 /* / */) return NONE;
    const segments = path.length === 1 ? [] : path.slice(1).split('/');
    for (const s of segments) {
      if (s === '.' || s === '..' || (s.includes('%') && /^(\.|%2e){1,2}$/i.test(s))) {
        return {
          kind: 'refused',
          why: 'dot segments (. and ..) are not allowed in a route path',
          internal: false,
        };
      }
    }
    if (reachesInternalRoute(path)) return { kind: 'refused', why: 'internal', internal: true };
    const allow = new Set<string>();
    try {
      for (const trie of this.triesFor(host)) {
        const found = trie.match(segments, method, allow);
        if (found !== undefined)
          return { kind: 'found', target: found.value, params: paramsJson(found.names, found.values) };
      }
    } catch (err) {
      if (err instanceof RefusedPath) return { kind: 'refused', why: err.why, internal: false };
      throw err;
    }
    return allow.size === 0 ? NONE : { kind: 'method', allow: [...allow].sort() };
  }

  /** Exact host, then wildcard hosts most specific first, then routes without a host. */
  private triesFor(hostHeader: string | undefined): readonly RouteTrie<RouteTarget>[] {
    // Most gateways have no host routes: the list is made once per rebuild, not per request.
    if (hostHeader === undefined || (this.exactHosts.size === 0 && this.wildcardHosts.length === 0)) {
      return this.hostless;
    }
    const host = hostOnly(hostHeader);
    const tries: RouteTrie<RouteTarget>[] = [];
    const exact = this.exactHosts.get(host);
    if (exact !== undefined) tries.push(exact);
    for (const [suffix, trie] of this.wildcardHosts) if (host.endsWith(suffix)) tries.push(trie);
    return tries.concat(this.hostless);
  }

  private changed(): void {
    if (this.dirty) return;
    this.dirty = true;
    // Rebuilt once after a burst of informer events, before the next request would have to.
    queueMicrotask(() => this.rebuildIfDirty());
  }

  private rebuildIfDirty(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const claims = resolveRouteClaims(this.owners.values());
    const exact = new Map<string, RouteTrie<RouteTarget>>();
    const wildcard = new Map<string, RouteTrie<RouteTarget>>();
    let anyHost: RouteTrie<RouteTarget> | undefined;
    let count = 0;
    // Claim order (granted keeps it): an earlier Function's route wins a tie the claims allowed.
    for (const [key, indexes] of claims.granted) {
      const owner = this.owners.get(key) as RouteOwner;
      for (const index of indexes) {
        const route = owner.routes[index] as HttpRoute;
        const segments = parseTemplate(route.path);
        const entry: TrieEntry<RouteTarget> = {
          value: {
            fnKey: key,
            path: route.path,
            cors: route.cors === undefined ? undefined : compileCors(route.cors, route.methods),
            jwt: route.jwt,
          },
          methods: route.methods === undefined ? undefined : new Set(route.methods),
          names: segments.flatMap((s) => (s.kind === 'literal' ? [] : [s.name])),
        };
        let trie: RouteTrie<RouteTarget>;
        if (route.host === undefined) trie = anyHost ??= new RouteTrie();
        else {
          const table = route.host.startsWith('*.') ? wildcard : exact;
          const name = route.host.startsWith('*.') ? route.host.slice(1) : route.host;
          trie = table.get(name) ?? new RouteTrie();
          table.set(name, trie);
        }
        trie.add(segments, entry);
        count++;
      }
    }
    this.anyHost = anyHost;
    this.hostless = anyHost === undefined ? [] : [anyHost];
    this.exactHosts = exact;
    this.wildcardHosts = [...wildcard].sort((a, b) => b[0].length - a[0].length);
    this.count = count;
  }
}

/** `Api.Example.com:8080` → `api.example.com`; an IPv6 literal keeps its brackets. Pure. */
function hostOnly(header: string): string {
  const lower = header.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  const host = colon === -1 ? lower : lower.slice(0, colon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * Compact JSON of the parameters, written out rather than built as an object (twice as fast, and
 * a `__proto__` parameter stays a plain key).
 */
function paramsJson(names: readonly string[], values: readonly string[]): string {
  let json = '{';
  for (let i = 0; i < names.length; i++) {
    json += `${i === 0 ? '' : ','}${JSON.stringify(names[i])}:${JSON.stringify(values[i])}`;
  }
  return `${json}}`;
}
