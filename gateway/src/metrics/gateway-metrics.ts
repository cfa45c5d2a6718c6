import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import type { RouteTable } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';

interface FunctionSeries {
  duration: { observe(value: number): void };
  byCode: Map<number, { inc(): void }>;
  /** Calls answered, whatever the code: OpenFaaS's invocation count. */
  calls: number;
}

/**
 * The invoke path's metrics. Label children are cached per function so a request does no
 * label hashing; the in-flight gauge is read from the route table when scraped, so it costs
 * the hot path nothing.
 */
@injectable()
export class GatewayMetrics {
  private readonly requests: Counter<'function' | 'code'>;
  private readonly duration: Histogram<'function'>;
  private readonly series = new Map<string, FunctionSeries>();
  private readonly coldStart: Histogram<'function'>;
  private readonly coldStartFailures: Counter<'function'>;

  constructor(@inject(TOKENS.Registry) registry: Registry, @inject(TOKENS.RouteTable) routes: RouteTable) {
    this.requests = new Counter({
      name: 'nimbus_gateway_requests_total',
      help: 'Invocations answered by the gateway, by function and HTTP status code.',
      labelNames: ['function', 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'nimbus_gateway_request_duration_seconds',
      help: 'Time from a request reaching the gateway to its response headers being sent.',
      labelNames: ['function'],
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
      series = { duration: this.duration.labels(fn), byCode: new Map(), calls: 0 };
      this.series.set(fn, series);
    }
    let counter = series.byCode.get(code);
    if (counter === undefined) {
      counter = this.requests.labels(fn, String(code));
      series.byCode.set(code, counter);
    }
    counter.inc();
    series.calls++;
    // Untraced calls take the label child, which does no hashing; only a traced one pays for the exemplar.
    if (traceId === undefined) series.duration.observe(seconds);
    else {
      const exemplarLabels: Record<string, string> = { trace_id: traceId };
      this.duration.observe({ labels: { function: fn }, value: seconds, exemplarLabels });
    }
  }

  /** Calls to a function answered through this gateway since it started (by its key). */
  invocations(fn: string): number {
    return this.series.get(fn)?.calls ?? 0;
  }
}
