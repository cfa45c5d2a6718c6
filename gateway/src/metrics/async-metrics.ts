import { Counter, Histogram, type Registry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../tokens.js';

type Outcome =
  | 'accepted'
  | 'completed'
  | 'failed'
  | 'dead_lettered'
  | 'dead_letter_dropped'
  | 'cancelled'
  | 'retried';

/** Async calls, by function (`namespace/name`). */
@injectable()
export class AsyncMetrics {
  private readonly counters: Record<Outcome, Counter<'function'>>;
  private readonly queueLatency: Histogram<'function'>;
  private readonly skipped: Counter<'reason'>;
  /** Label children by outcome and function, so counting does no label hashing. */
  private readonly children = new Map<string, { inc(): void }>();

  constructor(@inject(TOKENS.Registry) registry: Registry) {
    const counter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['function'], registers: [registry] });
    this.counters = {
      accepted: counter(
        'nimbus_async_calls_accepted_total',
        'Async calls stored in the queue and answered 202.',
      ),
      completed: counter('nimbus_async_calls_completed_total', 'Async calls that succeeded (a 2xx answer).'),
      failed: counter(
        'nimbus_async_calls_failed_total',
        'Async calls that ended failed: attempts exhausted or a failure not worth a retry.',
      ),
      dead_lettered: counter(
        'nimbus_async_calls_dead_lettered_total',
        'Async calls written to the dead letters (record and NIMBUS_DLQ stream).',
      ),
      dead_letter_dropped: counter(
        'nimbus_dead_letters_dropped_total',
        'Dead letters removed, oldest first, to keep a function within NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION.',
      ),
      cancelled: counter(
        'nimbus_async_calls_cancelled_total',
        'Queued async calls cancelled before they ran.',
      ),
      retried: counter(
        'nimbus_async_call_retries_total',
        'Failed attempts of async calls put back for another attempt after their backoff.',
      ),
    };
    this.queueLatency = new Histogram({
      name: 'nimbus_async_queue_latency_seconds',
      help: 'From an async call being accepted to the start of its first attempt.',
      labelNames: ['function'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    this.skipped = new Counter({
      name: 'nimbus_async_deliveries_skipped_total',
      help: 'Deliveries acknowledged without running: the call was cancelled, already finished, or run by another delivery.',
      labelNames: ['reason'],
      registers: [registry],
    });
  }

  count(outcome: Outcome, fn: string): void {
    const key = `${outcome} ${fn}`;
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.counters[outcome].labels(fn);
      this.children.set(key, child);
    }
    child.inc();
  }

  queued(fn: string, seconds: number): void {
    this.queueLatency.observe({ function: fn }, seconds);
  }

  skip(reason: string): void {
    this.skipped.inc({ reason });
  }
}
