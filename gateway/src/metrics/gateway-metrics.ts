import { splitVersionRoute } from '@nimbus/api';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import type { RouteTable } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';

interface FunctionSeries {
  duration: { observe(value: number): void };
  byCode: Map<number, { inc(): void }>;
  /** The series' labels: the Function's key, and a version route's version. */
  labels: { function: string; version?: string };
}

/**
 * A route key's labels: `ns/fn@v3` is version v3 of `ns/fn`. An unversioned Function's series
 * carry no version label, which Prometheus reads as the empty one (`version=""` selects them),
 * so their exposition is as it was before versions.
 */
function labelsOf(key: string): FunctionSeries['labels'] {
  const slash = key.indexOf('/');
  const version = splitVersionRoute(key.slice(slash + 1));
  return version === undefined
    ? { function: key }
    : { function: `${key.slice(0, slash)}/${version.functionName}`, version: version.version };
}

/**
 * The invoke path's metrics. Label children are cached per function so a request does no
 * label hashing; the in-flight gauge is read from the route table when scraped, so it costs
 * the hot path nothing.
 */
@injectable()
export class GatewayMetrics {
  private readonly requests: Counter<'function' | 'code' | 'version'>;
  private readonly duration: Histogram<'function' | 'version'>;
  /** By route key. */
  private readonly series = new Map<string, FunctionSeries>();
  /** Calls answered per Function key, all its versions together, whatever the code: OpenFaaS's invocation count. */
  private readonly calls = new Map<string, number>();
  private readonly coldStart: Histogram<'function'>;
  private readonly coldStartFailures: Counter<'function'>;

  constructor(@inject(TOKENS.Registry) registry: Registry, @inject(TOKENS.RouteTable) routes: RouteTable) {
    this.requests = new Counter({
      name: 'nimbus_gateway_requests_total',
      help: 'Invocations answered by the gateway, by function, HTTP status code and version (none for an unversioned function).',
      labelNames: ['function', 'code', 'version'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'nimbus_gateway_request_duration_seconds',
      help: 'Time from a request reaching the gateway to its response headers being sent, by function and version.',
      labelNames: ['function', 'version'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      // A traced call's trace id rides on its bucket as an exemplar (OpenMetrics scrapes only:
      // see exposition.ts). prom-client refuses exemplars on a classic registry at construction,
      // so the histogram joins the registry after it.
      enableExemplars: true,
      registers: [],
    });
    registry.registerMetric(this.duration);
    this.coldStart = new Histogram({
      name: 'nimbus_cold_start_seconds',
      help: 'How long requests were held for a ready replica (a wake from zero, a start) before going out.',
      labelNames: ['function'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    this.coldStartFailures = new Counter({
      name: 'nimbus_cold_start_failures_total',
      help: 'Requests held for a ready replica that were refused instead: the hold queue was full, or no replica was ready in time (a failed scale from zero).',
      labelNames: ['function'],
      registers: [registry],
    });
    new Gauge({
      name: 'nimbus_gateway_held_requests',
      help: 'Requests held for a ready replica, by function.',
      labelNames: ['function'],
      registers: [registry],
      collect() {
        this.reset();
        for (const route of routes.list())
          if (route.held.size > 0) this.set({ function: route.key }, route.held.size);
      },
    });
    new Gauge({
      name: 'nimbus_gateway_queued_requests',
      help: 'Requests waiting for room on a replica the gateway admits for (container functions), by function.',
      labelNames: ['function'],
      registers: [registry],
      collect() {
        this.reset();
        for (const route of routes.list())
          if (route.queued.size > 0) this.set({ function: route.key }, route.queued.size);
      },
    });
    new Gauge({
      name: 'nimbus_gateway_inflight_requests',
      help: 'Invocations in flight through this gateway, by function.',
      labelNames: ['function'],
      registers: [registry],
      collect() {
        this.reset();
        for (const route of routes.list()) this.set({ function: route.key }, route.load.inflight);
      },
    });
  }

  recordColdStart(fn: string, seconds: number): void {
    this.coldStart.observe({ function: fn }, seconds);
  }

  recordColdStartFailure(fn: string): void {
    this.coldStartFailures.inc({ function: fn });
  }

  /**
   * `fn` is the function's key, or '' for requests that named no known function; `traceId` is
   * the call's sampled trace, kept as the duration bucket's exemplar.
   */
  record(fn: string, code: number, seconds: number, traceId?: string): void {
    let series = this.series.get(fn);
    if (series === undefined) {
      const labels = labelsOf(fn);
      series = { duration: this.duration.labels(labels), byCode: new Map(), labels };
      this.series.set(fn, series);
    }
    let counter = series.byCode.get(code);
    if (counter === undefined) {
      counter = this.requests.labels({ ...series.labels, code: String(code) });
      series.byCode.set(code, counter);
    }
    counter.inc();
    this.calls.set(series.labels.function, (this.calls.get(series.labels.function) ?? 0) + 1);
    // Untraced calls take the label child, which does no hashing; only a traced one pays for the exemplar.
    if (traceId === undefined) series.duration.observe(seconds);
    else {
      const exemplarLabels: Record<string, string> = { trace_id: traceId };
      this.duration.observe({ labels: series.labels, value: seconds, exemplarLabels });
    }
  }

  /** Calls to a function answered through this gateway since it started (by its key). */
  invocations(fn: string): number {
    return this.calls.get(fn) ?? 0;
  }
}
