import type { FunctionRoute } from './route.js';

/**
 * Told the moment a request meets a function without a ready replica, so replicas are raised at
 * once rather than at the next look at the metrics. Local mode starts a process; in a cluster the
 * controller raises the Deployment.
 */
export interface Waker {
  wake(route: FunctionRoute): void;
}

/** For a gateway whose functions always run (or whose host wakes nothing): holding still waits for a start. */
export const noWaker: Waker = { wake: () => {} };
