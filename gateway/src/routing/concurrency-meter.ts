import type { Clock } from '@nimbus/api';

/** What one function's meter saw over an interval: what the autoscaler decides from. */
export interface LoadReading {
  /**
   * Requests in flight averaged over the interval, each weighted by its time in flight: a 2 ms
   * request in a 1 s interval adds 0.002. Knative's queue-proxy reports the same measure.
   */
  readonly average: number;
  /** Requests that started in the interval. */
  readonly requests: number;
  /**
   * How long the function has had no request in flight, as of the reading: 0 while one is;
   * undefined when it has had none since the meter was made.
   */
  readonly idleMs: number | undefined;
}

/**
 * Counts one function's requests in flight through this gateway, and the area under that count
 * over time, so that a reader sees every request however short, not just the ones that happen to
 * be in flight at the moment it looks. On the clock it is given (the route table's), so tests
 * step it. O(1) per request: a clock read, two additions and a multiplication.
 */
export class ConcurrencyMeter {
  private current = 0;
  /** The area since the meter was made: readers take differences of it, so each has its own interval. */
  private totalAreaMs = 0;
  /** `totalAreaMs` at the start of read()'s interval. */
  private areaAtIntervalStart = 0;
  private intervalStart: number;
  private changedAt: number;
  private started = 0;
  private lastActiveAt: number | undefined;

  constructor(private readonly clock: Pick<Clock, 'now'>) {
    this.intervalStart = clock.now();
    this.changedAt = this.intervalStart;
  }

  /** Requests in flight now. */
  get inflight(): number {
    return this.current;
  }

  /**
   * The area under the in-flight count since the meter was made, up to now, in request-ms: a
   * running total whose differences any reader may take (the dashboard's history), where read()
   * has one reader.
   */
  areaSinceStartMs(): number {
    this.advance(this.clock.now());
    return this.totalAreaMs;
  }

  begin(): void {
    this.advance(this.clock.now());
    this.current += 1;
    this.started += 1;
  }

  end(): void {
    const now = this.clock.now();
    this.advance(now);
    this.current -= 1;
    this.lastActiveAt = now;
  }

  /**
   * The interval from the last reading (or the meter's making) to now, and a new one begun: a
   * meter has one reader (the gateway's reporter in a cluster, the autoscaler in local mode).
   */
  read(): LoadReading {
    const now = this.clock.now();
    this.advance(now);
    const spanMs = now - this.intervalStart;
    // An empty interval (two readings in the same millisecond) has the count as its average.
    const average = spanMs > 0 ? (this.totalAreaMs - this.areaAtIntervalStart) / spanMs : this.current;
    const reading: LoadReading = {
      average,
      requests: this.started,
      idleMs: this.current > 0 ? 0 : this.lastActiveAt === undefined ? undefined : now - this.lastActiveAt,
    };
    this.areaAtIntervalStart = this.totalAreaMs;
    this.started = 0;
    this.intervalStart = now;
    return reading;
  }

  private advance(now: number): void {
    // A clock that steps back (a test's, or a wall clock set back) adds no negative area.
    if (now > this.changedAt) this.totalAreaMs += this.current * (now - this.changedAt);
    this.changedAt = now;
  }
}
