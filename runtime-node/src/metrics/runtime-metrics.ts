import { performance } from 'node:perf_hooks';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../tokens.js';
import { Counter, type CounterSeries, Gauge, Histogram, MetricsRegistry } from './metrics.js';

export const DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the gauges read at scrape time. */
export interface LimiterStats {
  readonly inflight: number;
  readonly queued: number;
}

export interface HandlerStatus {
  readonly loaded: boolean;
}

/** The runtime's metrics as served on /_/metrics. */
@injectable()
export class RuntimeMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly systemRequests: Counter;
  private readonly requestsByCode = new Map<number, CounterSeries>();
  private readonly systemByRoute = new Map<string, CounterSeries>();

  constructor(
    @inject(TOKENS.Limiter) limiter: LimiterStats,
    @inject(TOKENS.HandlerSlot) handler: HandlerStatus,
  ) {
    const r = this.registry;
    this.requests = r.register(
      new Counter('nimbus_runtime_requests_total', 'Function invocations by HTTP status code.'),
    );
    this.systemRequests = r.register(
      new Counter(
        'nimbus_runtime_system_requests_total',
        'Requests for the runtime\'s own /_/ routes, by route ("disguised": an encoded or dotted spelling, refused).',
      ),
    );
    this.duration = r.register(
      new Histogram(
        'nimbus_runtime_request_duration_seconds',
        'Time from request arrival to response, queueing included.',
        DURATION_BUCKETS_SECONDS,
      ),
    );
    r.register(
      new Gauge(
        'nimbus_runtime_inflight_requests',
        'Invocations holding a concurrency slot.',
        () => limiter.inflight,
      ),
    );
    r.register(
      new Gauge(
        'nimbus_runtime_queued_requests',
        'Invocations waiting for a concurrency slot.',
        () => limiter.queued,
      ),
    );
    r.register(
      new Gauge('nimbus_runtime_handler_loaded', '1 once the function handler is loaded, else 0.', () =>
        handler.loaded ? 1 : 0,
      ),
    );
    const startSeconds = Math.round(performance.timeOrigin) / 1000;
    r.register(
      new Gauge(
        'process_start_time_seconds',
        'Start time of the process since unix epoch in seconds.',
        () => startSeconds,
      ),
    );
  }

  /** Records one finished invocation; `statusCode` 499 means the client went away first. */
  observe(statusCode: number, seconds: number): void {
    let series = this.requestsByCode.get(statusCode);
    if (series === undefined) {
      series = this.requests.labels({ code: String(statusCode) });
      this.requestsByCode.set(statusCode, series);
    }
    series.inc();
    this.duration.observe(seconds);
  }

  /** Counts one request for an internal route, after it is answered (a scrape does not count itself). */
  observeSystem(route: string): void {
    let series = this.systemByRoute.get(route);
    if (series === undefined) {
      series = this.systemRequests.labels({ route });
      this.systemByRoute.set(route, series);
    }
    series.inc();
  }

  render(): string {
    return this.registry.render();
  }
}
