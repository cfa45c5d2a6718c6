import type { FunctionTotals, HistogramTotals } from './metric-totals.js';

/** What one interval of a function's traffic looked like: one point of each plot. NaN where there is nothing to say. */
export interface HistoryPoint {
  invocationsPerSecond: number;
  /** Answers with a 5xx status (the function's failures and the gateway's); a 4xx is the caller's. */
  errorsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /**
   * Requests in flight, averaged over the interval by time (the area under the count over the
   * interval's length, as the autoscaler measures it): unlike a look at the count every 10 s, it
   * sees every request, however short, and a long one in every interval it spans.
   */
  concurrency: number;
  /** Ready replicas at the end of the interval. */
  replicas: number;
  /** Requests that waited for a replica (a wake from zero, a start) in the interval. */
  coldStarts: number;
  /** How long they waited, on average. */
  coldStartMs: number;
}

export const HISTORY_FIELDS = [
  'invocationsPerSecond',
  'errorsPerSecond',
  'latencyP50Ms',
  'latencyP99Ms',
  'concurrency',
  'replicas',
  'coldStarts',
  'coldStartMs',
] as const satisfies readonly (keyof HistoryPoint)[];

/** Errors answered in one interval with one status code. */
export interface ErrorCount {
  code: number;
  count: number;
}

/**
 * The point between two readings of a function's totals, `seconds` apart. Pure. Counters only
 * grow, so a smaller total is a series that started again (a function removed and made anew):
 * it counts from zero.
 */
export function historyPoint(
  before: FunctionTotals,
  after: FunctionTotals,
  seconds: number,
  replicas: number,
): HistoryPoint {
  let calls = 0;
  let errors = 0;
  for (const code of after.byCode.keys()) {
    const count = increase(before.byCode.get(code), after.byCode.get(code));
    calls += count;
    if (code >= 500) errors += count;
  }
  const duration = histogramDelta(before.duration, after.duration);
  const cold = histogramDelta(before.coldStart, after.coldStart);
  return {
    invocationsPerSecond: calls / seconds,
    errorsPerSecond: errors / seconds,
    latencyP50Ms: quantile(duration, 0.5) * 1000,
    latencyP99Ms: quantile(duration, 0.99) * 1000,
    concurrency: increase(before.inflightAreaMs, after.inflightAreaMs) / 1000 / seconds,
    replicas,
    coldStarts: cold?.count ?? 0,
    coldStartMs: cold === undefined || cold.count === 0 ? Number.NaN : (cold.sum / cold.count) * 1000,
  };
}

/** The 5xx answers between two readings, by code. Pure. */
export function errorCounts(before: FunctionTotals, after: FunctionTotals): ErrorCount[] {
  const out: ErrorCount[] = [];
  for (const [code, total] of after.byCode) {
    const count = increase(before.byCode.get(code), total);
    if (code >= 500 && count > 0) out.push({ code, count });
  }
  return out;
}

function increase(before: number | undefined, after: number | undefined): number {
  const now = after ?? 0;
  const then = before ?? 0;
  return now >= then ? now - then : now;
}

function histogramDelta(
  before: HistogramTotals | undefined,
  after: HistogramTotals | undefined,
): HistogramTotals | undefined {
  if (after === undefined) return undefined;
  if (before === undefined || after.count < before.count) return after;
  return {
    bounds: after.bounds,
    cumulative: after.cumulative.map((n, i) => n - (before.cumulative[i] ?? 0)),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/**
 * The q-quantile of the observations a histogram (or a delta of two) holds, in its unit: linear
 * within the bucket it falls in, as Prometheus's histogram_quantile reads buckets. In the last,
 * unbounded bucket it is the largest finite bound. NaN with no observations. Pure.
 */
export function quantile(histogram: HistogramTotals | undefined, q: number): number {
  if (histogram === undefined || histogram.count === 0) return Number.NaN;
  const { bounds, cumulative } = histogram;
  const rank = q * histogram.count;
  for (let i = 0; i < bounds.length; i++) {
    const below = i === 0 ? 0 : (cumulative[i - 1] as number);
    const upTo = cumulative[i] as number;
    if (upTo < rank || upTo === below) continue;
    const upper = bounds[i] as number;
    const lower = i === 0 ? 0 : (bounds[i - 1] as number);
    if (upper === Number.POSITIVE_INFINITY) return lower;
    return lower + (upper - lower) * ((rank - below) / (upTo - below));
  }
  return Number.NaN;
}
