import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import {
  type AutoscalerConfig,
  type AutoscalerState,
  type ConcurrencySample,
  decideScale,
  pruneSamples,
} from '@nimbus/controller/autoscale/index';
import type { FunctionRoute, RouteTable, Waker } from '@nimbus/gateway';

/** What the autoscaler needs of the backend: how many replicas are ready, and a way to set how many run. */
export interface ScaleTarget {
  readyReplicas(key: string): number;
  scaleTo(key: string, replicas: number): void;
}

interface Tracked {
  config: AutoscalerConfig;
  samples: ConcurrencySample[];
  state: AutoscalerState | undefined;
}

/** How often concurrency is sampled and a decision taken, as Knative's autoscaler ticks. */
export const SAMPLE_INTERVAL_MS = 1000;

/**
 * Local mode's autoscaler loop around the pure decider: every second it samples each function's
 * concurrency (requests in flight through the gateway, time-weighted, plus those held for a replica), decides,
 * and resizes the process backend. A request that meets a function without a ready replica
 * wakes it at once, without waiting for the next tick.
 */
export class LocalAutoscaler implements Waker {
  private readonly tracked = new Map<string, Tracked>();
  private timer: unknown;

  constructor(
    private readonly routes: RouteTable,
    private readonly target: ScaleTarget,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /**
   * Starts or updates the scaling of a function; returns the replicas it should run now. A
   * changed config keeps the decisions so far, so editing `scale.max` does not restart the clock.
   */
  track(key: string, config: AutoscalerConfig): number {
    const existing = this.tracked.get(key);
    if (existing !== undefined) {
      existing.config = config;
      return this.decide(key, existing, false);
    }
    const tracked: Tracked = { config, samples: [], state: undefined };
    this.tracked.set(key, tracked);
    return this.decide(key, tracked, false);
  }

  untrack(key: string): void {
    this.tracked.delete(key);
  }

  start(): void {
    const tick = () => {
      for (const [key, tracked] of this.tracked) this.sample(key, tracked);
      for (const [key, tracked] of this.tracked) this.decide(key, tracked, true);
      this.timer = this.clock.setTimeout(tick, SAMPLE_INTERVAL_MS);
    };
    this.timer = this.clock.setTimeout(tick, SAMPLE_INTERVAL_MS);
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
  }

  // Waker: the gateway holds a request for a function with no ready replica.
  wake(route: FunctionRoute): void {
    const tracked = this.tracked.get(route.key);
    if (tracked === undefined) return;
    this.sample(route.key, tracked);
    this.decide(route.key, tracked, true);
  }

  /**
   * Reads the function's meter: requests in flight averaged by their time in flight since the
   * last sample, plus those held; and when one was last in flight, so a function whose requests
   * all fall between samples is not taken for idle.
   */
  private sample(key: string, tracked: Tracked): void {
    const route = this.routes.getByKey(key);
    const now = this.clock.now();
    tracked.samples = pruneSamples(tracked.samples, now, tracked.config.stableWindowMs);
    if (route === undefined) {
      tracked.samples.push({ at: now, concurrency: 0 });
      return;
    }
    const { average, idleMs } = route.load.read();
    const concurrency = average + route.held.size;
    tracked.samples.push(
      idleMs === undefined ? { at: now, concurrency } : { at: now, concurrency, lastActiveAt: now - idleMs },
    );
  }

  private decide(key: string, tracked: Tracked, apply: boolean): number {
    const decision = decideScale(
      tracked.config,
      { samples: tracked.samples, readyReplicas: this.target.readyReplicas(key) },
      tracked.state,
      this.clock.now(),
    );
    const before = tracked.state?.desired;
    tracked.state = decision.state;
    if (apply && decision.desired !== before) {
      this.log.info('scaling', {
        function: key,
        from: before,
        to: decision.desired,
        reason: decision.reason,
      });
      this.target.scaleTo(key, decision.desired);
    }
    return decision.desired;
  }
}
