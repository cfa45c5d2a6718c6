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
}

/** The series the history reads: the invoke path's own (metrics/gateway-metrics.ts), by name. */
export const HISTORY_SOURCES = {
  requests: 'nimbus_gateway_requests_total',
  duration: 'nimbus_gateway_request_duration_seconds',
  coldStart: 'nimbus_cold_start_seconds',
} as const;

interface MetricValue {
  value: number;
  metricName?: string;
  labels: Record<string, string | number | undefined>;
}

/**
 * Every function's totals, read from the registry as a scrape would read them: by series name, so
 * the history needs nothing from the invoke path but the counters it keeps anyway. Keys are the
 * functions' `namespace/name`; `keep` says which to read (the tracked ones), so an untracked
 * function costs a label compare and no allocation.
 */
export async function readTotals(
  registry: Registry,
  keep: (key: string) => boolean,
): Promise<Map<string, FunctionTotals>> {
  const totals = new Map<string, FunctionTotals>();
  const of = (key: string): FunctionTotals => {
    let entry = totals.get(key);
    if (entry === undefined) {
      entry = { byCode: new Map(), duration: undefined, coldStart: undefined };
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
  for (const [key, histogram] of await histograms(registry, HISTORY_SOURCES.duration, keep))
    of(key).duration = histogram;
  for (const [key, histogram] of await histograms(registry, HISTORY_SOURCES.coldStart, keep))
    of(key).coldStart = histogram;
  return totals;
}

async function values(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values as MetricValue[];
}

async function histograms(
  registry: Registry,
  name: string,
  keep: (key: string) => boolean,
): Promise<Map<string, HistogramTotals>> {
  const out = new Map<string, HistogramTotals>();
  for (const { labels, value, metricName } of await values(registry, name)) {
    const key = String(labels.function);
    if (!keep(key)) continue;
    let histogram = out.get(key);
    if (histogram === undefined) {
      histogram = { bounds: [], cumulative: [], sum: 0, count: 0 };
      out.set(key, histogram);
    }
    if (metricName === `${name}_bucket`) {
      histogram.bounds.push(labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le));
      histogram.cumulative.push(value);
    } else if (metricName === `${name}_sum`) histogram.sum = value;
    else if (metricName === `${name}_count`) histogram.count = value;
  }
  return out;
}
