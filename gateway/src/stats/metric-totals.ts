import type { Registry } from 'prom-client';

/** A histogram's running totals for one function: cumulative counts per upper bound, as Prometheus keeps them. */
export interface HistogramTotals {
  /** Upper bounds in seconds, ascending, `Infinity` last. */
  readonly bounds: number[];
  /** Observations at or below each bound since the gateway started. */
  readonly cumulative: number[];
  sum: number;
  count: number;
}

/** One function's counters as the gateway's metrics hold them at one moment. */
export interface FunctionTotals {
  /** Answers by HTTP status code. */
  readonly byCode: Map<number, number>;
  duration: HistogramTotals | undefined;
  coldStart: HistogramTotals | undefined;
  /** The area under the function's in-flight count, in request-ms (its route's ConcurrencyMeter). */
  inflightAreaMs: number;
}

/** The series the history reads: the invoke path's own (metrics/gateway-metrics.ts), by name. */
export const HISTORY_SOURCES = {
  requests: 'nimbus_gateway_requests_total',
  duration: 'nimbus_gateway_request_duration_seconds',
  coldStart: 'nimbus_cold_start_seconds',
} as const;

interface MetricValue {
  value: number;
  labels: Record<string, string | number | undefined>;
}

/**
 * Every function's totals, read from the registry by series name, so the history needs nothing
 * from the invoke path but the counters it keeps anyway. Keys are the functions'
 * `namespace/name`; `keep` says which to read (the tracked ones): an untracked function's
 * histograms cost a label compare.
 */
export async function readTotals(
  registry: Registry,
  keep: (key: string) => boolean,
): Promise<Map<string, FunctionTotals>> {
  const totals = new Map<string, FunctionTotals>();
  const of = (key: string): FunctionTotals => {
    let entry = totals.get(key);
    if (entry === undefined) {
      entry = emptyTotals();
      totals.set(key, entry);
    }
    return entry;
  };
  for (const { labels, value } of await values(registry, HISTORY_SOURCES.requests)) {
    const key = String(labels.function);
    if (!keep(key)) continue;
    const code = Number(labels.code);
    const byCode = of(key).byCode;
    byCode.set(code, (byCode.get(code) ?? 0) + value);
  }
  for (const [key, histogram] of histograms(registry, HISTORY_SOURCES.duration, keep))
    of(key).duration = histogram;
  for (const [key, histogram] of histograms(registry, HISTORY_SOURCES.coldStart, keep))
    of(key).coldStart = histogram;
  return totals;
}

export function emptyTotals(): FunctionTotals {
  return { byCode: new Map(), duration: undefined, coldStart: undefined, inflightAreaMs: 0 };
}

/** A counter's series through prom-client's API: 2.5 ms for 10,000 series. */
async function values(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values as MetricValue[];
}

/** Where prom-client 15's Histogram keeps each series' running totals: `bucketValues` per bound, not cumulative. */
interface HistogramInternals {
  upperBounds: readonly number[];
  hashMap: Record<
    string,
    { labels: Record<string, unknown>; bucketValues: Record<number, number>; sum: number; count: number }
  >;
}

/**
 * prom-client's Histogram.get() makes an object for every bucket of every series: 140 ms at
 * 5,000 functions, in one block of the event loop, every sample. The history reads the running
 * totals where the histogram keeps them instead (prom-client is pinned), making objects for the
 * tracked functions only: 1 ms at 5,000. The history tests fail if an upgrade moves them.
 */
function histograms(
  registry: Registry,
  name: string,
  keep: (key: string) => boolean,
): Map<string, HistogramTotals> {
  const out = new Map<string, HistogramTotals>();
  const metric = registry.getSingleMetric(name) as Partial<HistogramInternals> | undefined;
  if (metric === undefined) return out;
  const { hashMap, upperBounds } = metric;
  if (typeof hashMap !== 'object' || !Array.isArray(upperBounds))
    throw new Error(
      `${name}: this prom-client keeps a histogram's series elsewhere than the history reads them`,
    );
  const bounds = [...upperBounds, Number.POSITIVE_INFINITY];
  for (const series of Object.values(hashMap)) {
    const key = String(series.labels.function);
    if (!keep(key)) continue;
    let below = 0;
    const cumulative = upperBounds.map((bound) => {
      below += series.bucketValues[bound] ?? 0;
      return below;
    });
    cumulative.push(series.count);
    // A versioned Function has a series per version: its history is theirs together.
    const earlier = out.get(key);
    if (earlier === undefined) out.set(key, { bounds, cumulative, sum: series.sum, count: series.count });
    else
      out.set(key, {
        bounds,
        cumulative: cumulative.map((n, i) => n + (earlier.cumulative[i] ?? 0)),
        sum: earlier.sum + series.sum,
        count: earlier.count + series.count,
      });
  }
  return out;
}
