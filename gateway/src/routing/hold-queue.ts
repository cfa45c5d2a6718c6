import type { Clock } from '@nimbus/api';
import { Problem, problems } from '../http/problems.js';
import type { FunctionRoute, HeldRequest } from './route.js';

export type { HeldRequest } from './route.js';
import type { WakeTrace, Waker } from './waker.js';

/**
 * The hold queue: a request for a function with no ready replica waits here, bounded in number
 * (NIMBUS_HOLD_QUEUE_SIZE) and in time (NIMBUS_WAKE_TIMEOUT_MS), while the function is woken. It
 * goes the moment the route table has a ready replica for it, or is answered with why not.
 *
 * The waiting requests are kept on their route (`route.held`), so the route table can release
 * them as it learns of a replica (`settleHeld`), and the metrics and autoscalers can count them.
 */

/** What the holder of a request is told when its wait ends. */
export interface Waiting {
  /** A replica is ready: send the request. */
  release(): void;
  /** None will be in time, or the function went away: answer with this problem. */
  drop(problem: Problem): void;
  /** The held request's trace, for the wake it causes. */
  readonly trace?: WakeTrace | undefined;
}

/** A request's place in the queue, for a caller that gives up waiting. */
export interface HoldTicket {
  leave(): void;
}

export interface HoldLimits {
  /** Requests held per function; beyond it, 503. 0: none held. */
  readonly holdQueueSize: number;
  /** How long a held request waits for a ready replica before it gets 503 with the reason. */
  readonly wakeTimeoutMs: number;
}

export class HoldQueue {
  constructor(
    private readonly limits: HoldLimits,
    private readonly clock: Clock,
    private readonly waker: Waker,
  ) {}

  /**
   * Holds a request for the route and wakes the function. Answers with the problem instead when
   * the queue is full. `waiting` may be released before this returns, should the waker bring up
   * a replica at once.
   */
  hold(route: FunctionRoute, waiting: Waiting): HoldTicket | Problem {
    const { holdQueueSize, wakeTimeoutMs } = this.limits;
    if (route.held.size >= holdQueueSize) {
      return holdQueueSize === 0
        ? problems.unavailable(route.name, route.unavailableReason ?? 'no replica is ready yet')
        : problems.holdQueueFull(route.name, route.held.size);
    }
    const leave = () => {
      this.clock.clearTimeout(timer);
      route.held.delete(held);
    };
    const held: HeldRequest = {
      release: () => {
        leave();
        waiting.release();
      },
      drop: (reason, gone) => {
        leave();
        waiting.drop(
          gone
            ? problems.functionNotFound(route.name, route.namespace)
            : problems.unavailable(route.name, reason),
        );
      },
    };
    const timer = this.clock.setTimeout(() => {
      held.drop(
        `${route.unavailableReason ?? 'no replica became ready'} (waited ${wakeTimeoutMs} ms)`,
        false,
      );
    }, wakeTimeoutMs);
    route.held.add(held);
    this.waker.wake(route, waiting.trace);
    return { leave };
  }

  /** Holds until a replica is ready (undefined) or it is clear none will be (the problem). */
  wait(route: FunctionRoute): Promise<Problem | undefined> {
    return new Promise((resolve) => {
      const ticket = this.hold(route, { release: () => resolve(undefined), drop: resolve });
      if (ticket instanceof Problem) resolve(ticket);
    });
  }
}

/**
 * The route's replicas changed: its held requests all go if one is ready, or are all answered
 * at once if none can be (a terminal failure, such as a handler that cannot load), rather than
 * at the end of their wait. Otherwise they wait on.
 */
export function settleHeld(route: FunctionRoute): void {
  if (route.held.size === 0) return;
  if (route.endpoints.length > 0) for (const held of takeAll(route.held)) held.release();
  else if (route.failure !== undefined)
    for (const held of takeAll(route.held)) held.drop(route.failure, false);
}

/** The function was removed: its held requests are answered 404. */
export function dropHeldOfRemoved(route: FunctionRoute): void {
  for (const held of takeAll(route.held)) held.drop('the function was removed', true);
}

function takeAll<T>(set: Set<T>): T[] {
  const all = [...set];
  set.clear();
  return all;
}
