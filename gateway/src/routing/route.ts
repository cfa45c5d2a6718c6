/** The shapes the route table, the hold queue and the wakers share: types only, so none imports another for them. */
import type { FunctionRateLimit, HttpAuth, HttpJwt } from '@nimbus/api';
import type { ConcurrencyMeter } from './concurrency-meter.js';
import type { VersionOutcomeMeter } from './version-outcomes.js';

/** A replica the gateway can send requests to. `inflight` is the gateway's own count for it. */
export interface Endpoint {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, made once rather than per request. */
  readonly origin: string;
  inflight: number;
}

export interface EndpointAddress {
  id: string;
  host: string;
  port: number;
}

/** What the invoke path needs to know about a function, kept ready so a request does one map lookup. */
export interface FunctionRoute {
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly timeoutMs: number;
  /** Requests in flight per replica that the replica serves without queueing. */
  readonly concurrency: number;
  /**
   * The gateway holds each replica to `concurrency` (a container function: no runtime inside
   * counts for it); requests beyond it wait in `queued`, up to twice as many, then get 429.
   */
  readonly gatewayAdmits: boolean;
  readonly auth: HttpAuth;
  /** With auth jwt: whose tokens are accepted, and what they must carry (spec.http.jwt). */
  readonly jwt?: HttpJwt | undefined;
  /** spec.http.rateLimit: calls admitted per second over all gateway replicas. */
  readonly rateLimit?: FunctionRateLimit | undefined;
  /** Ready replicas only. */
  endpoints: Endpoint[];
  /** Why there is no ready replica, when there is none (for example the handler's load error). */
  unavailableReason: string | undefined;
  /** Set when no replica can become ready as things stand (a handler that fails to load): no holding. */
  failure: string | undefined;
  /** Requests for this function in flight through this gateway, and their time in flight. */
  readonly load: ConcurrencyMeter;
  /** A version route's version (`v3`, its name being `fn@v3`); undefined for a Function's own route. */
  readonly version: string | undefined;
  /** A version route's call outcomes since the last report, for rollouts; undefined otherwise. */
  readonly outcomes: VersionOutcomeMeter | undefined;
  /** Requests waiting for a ready replica (a wake from zero, a start, a restart): see hold-queue.ts. */
  readonly held: Set<HeldRequest>;
  /** With gatewayAdmits: requests waiting for a replica with room, oldest first (replica-queue.ts). */
  readonly queued: Set<QueuedAttempt>;
}

/** A request waiting for room on a replica; `go` sends it, and takes the room. */
export interface QueuedAttempt {
  go(): void;
}

/** A request held on its route until the function has a ready replica. */
export interface HeldRequest {
  /** A replica is ready: go. */
  release(): void;
  /** It will not be: answer with why. `gone` when the function itself was removed. */
  drop(reason: string, gone: boolean): void;
}
