/**
 * One observation of a function's concurrency: requests in flight (and held while it wakes),
 * already summed across every gateway and replica that reports, at `at` (ms since the epoch).
 */
export interface ConcurrencySample {
  readonly at: number;
  readonly concurrency: number;
  /**
   * When a request was last in flight (at or before `at`), as the meters saw it: a request too short
   * to be in flight at any sample still marks its function busy. Undefined: none ever was.
   */
  readonly lastActiveAt?: number;
}

/**
 * Whether a sample falls in the window of `windowMs` that ends at `now`: `(now - windowMs, now]`.
 * A sample stamped after `now` is left out so that replaying a recorded series at an earlier
 * `now` sees only what was known then; a bad value (negative, NaN) is left out so one broken
 * reporter cannot drive scaling.
 */
export function inWindow(sample: ConcurrencySample, now: number, windowMs: number): boolean {
  return (
    sample.at <= now &&
    sample.at > now - windowMs &&
    Number.isFinite(sample.concurrency) &&
    sample.concurrency >= 0
  );
}

/**
 * The plain mean of the samples in the window, or undefined when there are none.
 *
 * Not Knative's per-second buckets: there a scraper writes a bucket every second, so an empty
 * bucket means zero. Ours are totals taken at the collector's own cadence, so every sample weighs
 * the same and a gap is missing data, which the decider answers by holding, never by scaling down.
 */
export function windowAverage(
  samples: readonly ConcurrencySample[],
  now: number,
  windowMs: number,
): number | undefined {
  let sum = 0;
  let count = 0;
  for (const sample of samples) {
    if (!inWindow(sample, now, windowMs)) continue;
    sum += sample.concurrency;
    count += 1;
  }
  return count === 0 ? undefined : sum / count;
}

/**
 * When a sample in the window last saw a request in flight or held (at the sample's own time), or
 * undefined if none did: demand the decider can act on, such as a request held at zero.
 */
export function lastBusyAt(
  samples: readonly ConcurrencySample[],
  now: number,
  windowMs: number,
): number | undefined {
  let latest: number | undefined;
  for (const sample of samples) {
    if (
      sample.concurrency > 0 &&
      inWindow(sample, now, windowMs) &&
      (latest === undefined || sample.at > latest)
    )
      latest = sample.at;
  }
  return latest;
}

/**
 * When the function was last seen active by the samples in the window: {@link lastBusyAt}, or the
 * last activity a sample reports, whichever is later. A function whose every request is shorter
 * than the gap between samples is active all the same: this, not lastBusyAt, says how long it
 * has been idle.
 */
export function lastActiveAt(
  samples: readonly ConcurrencySample[],
  now: number,
  windowMs: number,
): number | undefined {
  let latest = lastBusyAt(samples, now, windowMs);
  for (const sample of samples) {
    const at = sample.lastActiveAt;
    if (at === undefined || at > sample.at || !inWindow(sample, now, windowMs)) continue;
    if (latest === undefined || at > latest) latest = at;
  }
  return latest;
}

/** The samples a caller still needs to keep for a decision at `now` or later: a new array. */
export function pruneSamples(
  samples: readonly ConcurrencySample[],
  now: number,
  windowMs: number,
): ConcurrencySample[] {
  return samples.filter((sample) => sample.at > now - windowMs);
}
