import {
  type Clock,
  type FunctionRateLimit,
  type HttpAuth,
  type HttpJwt,
  functionKey,
  splitVersionRoute,
  systemClock,
} from '@nimbus/api';
import { ConcurrencyMeter } from './concurrency-meter.js';
import { dropHeldOfRemoved, settleHeld } from './hold-queue.js';
import { HttpRoutes } from './http-routes.js';
import { ProvisionalEndpoints } from './provisional-endpoints.js';
import { releaseQueued } from './replica-queue.js';
import type { Endpoint, EndpointAddress, FunctionRoute } from './route.js';
import { VersionOutcomeMeter } from './version-outcomes.js';
import { VersionSplits } from './version-splits.js';

export type { Endpoint, EndpointAddress, FunctionRoute } from './route.js';

export interface RouteSettings {
  name: string;
  namespace: string;
  timeoutMs: number;
  concurrency: number;
  /** The gateway holds each replica to `concurrency` (container functions); false when not given. */
  gatewayAdmits?: boolean;
  auth: HttpAuth;
  /** With auth jwt: the identity provider (spec.http.jwt); given as undefined otherwise. */
  jwt?: HttpJwt | undefined;
  /** Given as undefined, not left out, to lift a limit: an update assigns the settings it gets. */
  rateLimit?: FunctionRateLimit | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What a route's source last said of its replicas. */
interface Listed {
  readonly addresses: readonly EndpointAddress[];
  readonly unavailableReason: string | undefined;
  readonly terminal: boolean;
}

/**
 * The gateway's view of every function and its ready replicas. Sources (the local process
 * backend, or Kubernetes informers) write into it; the invoke path only reads. A route's
 * endpoints are those its source lists, and any provisional ones (addProvisional) it does not
 * list yet.
 */
export class RouteTable {
  private readonly routes = new Map<string, FunctionRoute>();
  private readonly listed = new Map<string, Listed>();
  private readonly provisional: ProvisionalEndpoints;
  /** The Functions' own routes (spec.http.routes), fed by the same sources. */
  readonly http = new HttpRoutes();
  /** The versioned Functions' traffic, fed by the same sources; their versions are routes named `fn@vN`. */
  readonly versions = new VersionSplits();

  /**
   * `clock` starts each function's concurrency meter (the invoke path reads the same clock) and
   * times provisional endpoints out.
   */
  constructor(private readonly clock: Clock = systemClock) {
    this.provisional = new ProvisionalEndpoints(clock, (key) => this.publishKey(key));
  }

  get(namespace: string, name: string): FunctionRoute | undefined {
    return this.routes.get(functionKey(namespace, name));
  }

  /** By the function's `namespace/name` key. */
  getByKey(key: string): FunctionRoute | undefined {
    return this.routes.get(key);
  }

  list(): FunctionRoute[] {
    return [...this.routes.values()];
  }

  /**
   * Adds a function or changes its settings, keeping its endpoints and counters. The route object
   * is changed in place: requests in flight hold it and count themselves out of it when done.
   */
  upsert(settings: RouteSettings): FunctionRoute {
    const key = functionKey(settings.namespace, settings.name);
    const existing = this.routes.get(key);
    const full = { ...settings, gatewayAdmits: settings.gatewayAdmits ?? false };
    if (existing !== undefined) return Object.assign(existing as Mutable<FunctionRoute>, full);
    const version = splitVersionRoute(settings.name)?.version;
    const route: FunctionRoute = {
      key,
      ...full,
      version,
      outcomes: version === undefined ? undefined : new VersionOutcomeMeter(),
      endpoints: [],
      unavailableReason: undefined,
      failure: undefined,
      load: new ConcurrencyMeter(this.clock),
      held: new Set(),
      queued: new Set(),
    };
    this.routes.set(key, route);
    return route;
  }

  /**
   * Replaces a function's ready replicas. A replica that stays keeps its in-flight count,
   * so balancing is not thrown off by a change elsewhere. Held requests go the moment a replica
   * is ready; with none, a `terminal` reason (a handler that cannot load) answers them at once
   * rather than at the end of their wait. A provisional endpoint listed here is the source's now.
   */
  setEndpoints(
    namespace: string,
    name: string,
    addresses: readonly EndpointAddress[],
    unavailableReason?: string,
    terminal = false,
  ): void {
    const route = this.routes.get(functionKey(namespace, name));
    if (route === undefined) return;
    this.listed.set(route.key, { addresses, unavailableReason, terminal });
    this.provisional.listed(route.key, addresses);
    this.publish(route);
  }

  /**
   * A replica known ready before its source lists it (a pool pod a wake's answer named, a new pod
   * the gateway probed): it takes requests at once, held ones first, until the source lists it
   * or PROVISIONAL_TTL_MS passes. False when the route is unknown or has the endpoint already.
   */
  addProvisional(namespace: string, name: string, address: EndpointAddress): boolean {
    const route = this.routes.get(functionKey(namespace, name));
    if (route === undefined || route.endpoints.some((e) => e.id === address.id)) return false;
    if (!this.provisional.add(route.key, address)) return false;
    this.publish(route);
    return true;
  }

  private publishKey(key: string): void {
    const route = this.routes.get(key);
    if (route !== undefined) this.publish(route);
  }

  private publish(route: FunctionRoute): void {
    const listed = this.listed.get(route.key);
    const unavailableReason = listed === undefined ? route.unavailableReason : listed.unavailableReason;
    const extra = this.provisional.of(route.key);
    const addresses =
      extra.length === 0 ? (listed?.addresses ?? []) : [...(listed?.addresses ?? []), ...extra];
    const previous = new Map(route.endpoints.map((e) => [e.id, e]));
    route.endpoints = addresses.map((a) => {
      const kept = previous.get(a.id);
      return kept !== undefined && kept.host === a.host && kept.port === a.port
        ? kept
        : { ...a, origin: `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`, inflight: 0 };
    });
    route.unavailableReason = addresses.length === 0 ? unavailableReason : undefined;
    route.failure = addresses.length === 0 && listed?.terminal === true ? unavailableReason : undefined;
    settleHeld(route);
    releaseQueued(route);
  }

  remove(namespace: string, name: string): void {
    const key = functionKey(namespace, name);
    const route = this.routes.get(key);
    this.routes.delete(key);
    this.listed.delete(key);
    this.provisional.forget(key);
    this.http.remove(key);
    this.versions.remove(key);
    if (route !== undefined) dropHeldOfRemoved(route);
  }
}
