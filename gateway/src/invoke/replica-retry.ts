import { type Problem, problems } from '../http/problems.js';
import { enqueue, hasRoom, releaseQueued } from '../routing/replica-queue.js';
import type { Endpoint, FunctionRoute } from '../routing/route-table.js';
import type { Upstream } from './ports.js';
import { type UpstreamFailure, classifyUpstreamError, problemFor } from './upstream-errors.js';

/** Replicas tried per request, the first one included. */
export const MAX_ATTEMPTS = 3;

/** The side of a request that talks to the replica, and answers whoever waits for it. */
export interface AttemptTarget {
  /**
   * Sends the request to `endpoint`, already counted in flight on it. The attempt then ends in
   * `ReplicaRetry.failed` (no answer yet) or `ReplicaRetry.done`.
   */
  send(endpoint: Endpoint): void;
  /** No replica will answer: answer with `problem`. */
  fail(problem: Problem, failure: UpstreamFailure): void;
}

/**
 * One request's attempts on its function's replicas: the least busy one first, and another only
 * when the one tried never saw the request (it never connected), up to MAX_ATTEMPTS, each retry
 * logged. The gateway's one retry loop, driven by the streaming exchange and the buffered call alike.
 */
export class ReplicaRetry {
  private endpoint: Endpoint | undefined;
  /** Replicas that never connected; made at the first such, so the common path allocates none. */
  private refused: Set<Endpoint> | undefined;
  private attempts = 0;
  /** Set while the request waits in the gateway's queue for a replica with room. */
  private queued: { leave(): void; timer: unknown } | undefined;

  constructor(
    private readonly upstream: Upstream,
    private readonly route: FunctionRoute,
    /** The function's timeout plus the gateway's grace: for the replica, and for a timeout's problem. */
    readonly timeoutMs: number,
    private readonly callId: string | undefined,
    private readonly target: AttemptTarget,
  ) {}

  /** Sends the request to the next replica, or fails it when none is left to try. */
  attempt(): void {
    const endpoint = this.upstream.pick(this.route, this.refused);
    if (endpoint === undefined) {
      const problem = problems.unavailable(this.route.name, 'no replica accepted the connection');
      this.target.fail(problem, 'never-connected');
      return;
    }
    if (!hasRoom(this.route, endpoint)) {
      this.wait();
      return;
    }
    this.endpoint = endpoint;
    this.attempts++;
    endpoint.inflight++;
    this.target.send(endpoint);
  }

  /** Every replica is at its concurrency: wait in the route's queue, at most the function's timeout. */
  private wait(): void {
    const route = this.route;
    const leave = enqueue(route, {
      go: () => {
        if (this.queued === undefined) return;
        this.upstream.clock.clearTimeout(this.queued.timer);
        this.queued = undefined;
        this.attempt();
      },
    });
    if (leave === undefined) {
      this.target.fail(problems.replicasBusy(route.name, route.concurrency, route.queued.size), 'busy');
      return;
    }
    const timer = this.upstream.clock.setTimeout(() => {
      this.queued = undefined;
      leave();
      this.target.fail(problems.replicasStayedBusy(route.name, route.timeoutMs), 'busy');
    }, route.timeoutMs);
    this.queued = { leave, timer };
  }

  /** The attempt failed before any of its answer went out: another replica, or the problem. */
  failed(err: Error): void {
    const endpoint = this.endpoint;
    this.done();
    const failure = classifyUpstreamError(err);
    if (failure === 'never-connected' && endpoint !== undefined && this.attempts < MAX_ATTEMPTS) {
      if (this.refused === undefined) this.refused = new Set();
      this.refused.add(endpoint);
      this.upstream.log.warn('replica refused the connection; trying another', {
        function: this.route.key,
        endpoint: endpoint.id,
        code: (err as NodeJS.ErrnoException).code,
        callId: this.callId,
      });
      this.attempt();
      return;
    }
    this.target.fail(problemFor(failure, err, this.route.name, this.timeoutMs), failure);
  }

  /** The attempt is over (answered, cut short, cancelled): the replica stops counting it. */
  done(): void {
    if (this.queued !== undefined) {
      this.upstream.clock.clearTimeout(this.queued.timer);
      this.queued.leave();
      this.queued = undefined;
    }
    if (this.endpoint === undefined) return;
    this.endpoint.inflight--;
    this.endpoint = undefined;
    // Its room goes to the oldest request waiting for one.
    if (this.route.queued.size > 0) releaseQueued(this.route);
  }
}
