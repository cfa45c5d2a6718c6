import type { FunctionRoute } from './route.js';

/** One step of a wake (a controller's scale write, a process spawned): a span under the held request's. */
export interface WakeStep {
  set(name: string, value: string | number | boolean): void;
  /** Ends the step; `error` says why it failed. */
  end(error?: string): void;
}

/**
 * The trace of the held request that caused a wake, when tracing is on: each step the wake takes
 * becomes a child of its `hold` span, so a cold start's trace says where the time went.
 */
export interface WakeTrace {
  /** Starts a step; with `headers`, writes its traceparent there for a step done by another process. */
  step(
    name: string,
    attributes?: Record<string, string | number | boolean>,
    headers?: Record<string, string>,
  ): WakeStep;
}

/**
 * Told the moment a request meets a function without a ready replica, so replicas are raised at
 * once rather than at the next look at the metrics. Local mode starts a process; in a cluster the
 * controller raises the Deployment. `trace` is the held request's, when it is traced.
 */
export interface Waker {
  wake(route: FunctionRoute, trace?: WakeTrace): void;
}

/** For a gateway whose functions always run (or whose host wakes nothing): holding still waits for a start. */
export const noWaker: Waker = { wake: () => {} };
