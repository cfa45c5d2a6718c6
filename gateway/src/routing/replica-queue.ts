import type { Endpoint, FunctionRoute, QueuedAttempt } from './route.js';

/**
 * Per-replica concurrency for functions whose replicas cannot count for themselves: a container
 * function runs someone else's server, with no runtime inside to hold it to `concurrency` and
 * queue the rest. The gateway does it instead: a request goes to a replica with room, or waits
 * here (oldest first) while there is room in the queue, twice `concurrency` per ready replica as
 * runtime-node keeps; beyond that it is refused with 429, as a runtime-node replica would.
 *
 * Counted per gateway: with several gateway replicas, a replica may see that many times
 * `concurrency` at worst, as each gateway counts only what it sent.
 */

/** Whether the replica may take one more request from this gateway. */
export function hasRoom(route: FunctionRoute, endpoint: Endpoint): boolean {
  return !route.gatewayAdmits || endpoint.inflight < route.concurrency;
}

/** How many may wait: twice the concurrency of each ready replica. */
export function queueLimit(route: FunctionRoute): number {
  return 2 * route.concurrency * route.endpoints.length;
}

/**
 * Queues an attempt until a replica has room; false when the queue is full. The returned
 * function takes it out again (the caller left, or its time ran out).
 */
export function enqueue(route: FunctionRoute, attempt: QueuedAttempt): (() => void) | undefined {
  if (route.queued.size >= queueLimit(route)) return undefined;
  route.queued.add(attempt);
  return () => route.queued.delete(attempt);
}

/**
 * Room may have come (a request ended, a replica became ready): the oldest waiting requests go,
 * as many as there is room for. Each `go` takes its room at once.
 */
export function releaseQueued(route: FunctionRoute): void {
  // Each waiting request is looked at once at most: one whose only replica with room already
  // refused it queues again, at the back, rather than going round for ever.
  for (let turns = route.queued.size; turns > 0 && route.queued.size > 0; turns--) {
    // With no replica left, each goes now and is answered 503 rather than wait out its time.
    if (route.endpoints.length > 0 && !route.endpoints.some((e) => e.inflight < route.concurrency)) return;
    const [next] = route.queued as Set<QueuedAttempt> & Iterable<QueuedAttempt>;
    route.queued.delete(next as QueuedAttempt);
    (next as QueuedAttempt).go();
  }
}
