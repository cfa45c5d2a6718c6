import { type Clock, type Logger, type ResolvedSource, sleep, sourceKey } from '@nimbus/api';
import { retryDelay } from '@nimbus/bus';
import type { SourceEvent } from '@nimbus/sources';
import type { DeadLetterStore } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import { DEAD_LETTER_PSEUDO, describeFailure } from '../async/call-outcome.js';
import { type DeliveryEnd, DeliverySpan } from '../async/delivery-span.js';
import type { Ending } from '../destinations/outcome-event.js';
import type { BufferedRequest, CallOutcome, Invoker } from '../invoke/invoker.js';
import type { RouteTable } from '../routing/route-table.js';
import { directEventRequest, sourceEventKey } from './source-message.js';

export interface DirectDeliveryDeps {
  readonly routes: RouteTable;
  readonly invoker: Pick<Invoker, 'call'>;
  readonly deadLetters: DeadLetterStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Where the Function's spec.destinations sends an event's outcome. */
  readonly destinations?: { ended(ending: Ending): Promise<void> };
  /** A span for each attempt, under the message's `traceparent`; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
}

/** Why a delivery stopped before it settled: the origin should give the event again. */
export class DeliveryStoppedError extends Error {
  constructor() {
    super('the gateway is stopping; the event goes back to its origin');
    this.name = 'DeliveryStoppedError';
  }
}

/** How a settled delivery ended. */
export type DirectOutcome = 'delivered' | 'dead-lettered';

/** How one attempt went, for its span; `settled` once the event needs no other. */
interface Attempted extends DeliveryEnd {
  readonly settled?: DirectOutcome;
}

/** The W3C trace context the event carried from its publisher (CloudEvents' distributed tracing extension). */
function traceCarrier(event: SourceEvent): Record<string, string | undefined> {
  return { traceparent: event.extensions?.traceparent, tracestate: event.extensions?.tracestate };
}

/** What an attempt's span says: whose trigger, which attempt, which message from where. */
function spanAttributes(source: ResolvedSource, event: SourceEvent, attempt: number) {
  const queue =
    source.kind === 'rabbitmq'
      ? {
          'messaging.destination.name': (source as ResolvedSource<'rabbitmq'>).spec.queue,
          ...(event.subject === undefined
            ? {}
            : { 'messaging.rabbitmq.destination.routing_key': event.subject }),
        }
      : {};
  return {
    'nimbus.function': `${source.namespace}/${source.function}`,
    'nimbus.trigger': source.name,
    'nimbus.attempt': attempt,
    'messaging.system': source.kind,
    ...queue,
    'messaging.message.id': event.id,
  };
}

/**
 * Delivers an event straight from an origin that holds it unacknowledged meanwhile (a RabbitMQ
 * queue): attempts through the gateway's routing (so a function at zero wakes), waits the
 * trigger's backoff between them, and after `maxDeliver` attempts writes a dead letter (listed
 * and redriven like any other). It resolves once the event is settled either way, and the
 * origin may then forget it; it rejects only when it could not settle it (stopping, the dead
 * letters unreachable), and the origin keeps it.
 */
export class DirectDelivery {
  private readonly stopping = new AbortController();

  constructor(private readonly deps: DirectDeliveryDeps) {}

  async deliver(source: ResolvedSource, event: SourceEvent, firstAttempt: number): Promise<DirectOutcome> {
    const request = directEventRequest(event);
    let attempt = Math.max(1, firstAttempt);
    for (;;) {
      if (this.stopping.signal.aborted) throw new DeliveryStoppedError();
      const span = DeliverySpan.message(
        this.deps.tracing,
        traceCarrier(event),
        spanAttributes(source, event, attempt),
      );
      const attempted = this.attempt(source, event, request, attempt, span);
      // The span ends once the attempt is settled; one whose dead letter could not be written is retried.
      if (span !== undefined) await span.endWhen(attempted);
      const { settled } = await attempted;
      if (settled !== undefined) return settled;
      const waited = await sleep(
        this.deps.clock,
        retryDelay(source.backoffMs, attempt),
        this.stopping.signal,
      );
      if (!waited) throw new DeliveryStoppedError();
      attempt++;
    }
  }

  /** One attempt: a 2xx settles the event, the last failure dead-letters it, any other goes again. */
  private async attempt(
    source: ResolvedSource,
    event: SourceEvent,
    request: BufferedRequest,
    attempt: number,
    span: DeliverySpan | undefined,
  ): Promise<Attempted> {
    const route = this.deps.routes.get(source.namespace, source.function);
    let lastError: string;
    let outcome: CallOutcome | undefined;
    if (route === undefined) {
      lastError = `attempt ${attempt}: the function ${source.namespace}/${source.function} is not known to this gateway`;
    } else {
      // A call in progress runs to its end: stopping only ends the waits between attempts.
      outcome = await this.deps.invoker.call(route, span?.request(request) ?? request);
      if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
        await this.deps.destinations?.ended({
          ...this.ending(source, event),
          outcome: {
            kind: 'succeeded',
            status: outcome.status,
            headers: outcome.headers,
            body: outcome.body,
            size: outcome.size,
          },
        });
        return { outcome, error: undefined, retried: false, settled: 'delivered' };
      }
      lastError = describeFailure(outcome, attempt);
    }
    if (attempt < source.maxDeliver) return { outcome, error: lastError, retried: true };
    await this.deadLetter(source, event, request, lastError, attempt);
    await this.deps.destinations?.ended({
      ...this.ending(source, event),
      outcome: { kind: 'failed', lastError, attempts: attempt },
    });
    return { outcome, error: lastError, retried: false, deadLettered: true, settled: 'dead-lettered' };
  }

  /**
   * An event the durable path can never take as it is (larger than the event bus allows): a dead
   * letter at once, with why, so that its origin may let it go rather than give it again forever.
   */
  async refuse(source: ResolvedSource, event: SourceEvent, why: string): Promise<void> {
    await this.deadLetter(source, event, directEventRequest(event), why, 0, 'refused');
  }

  /** What an outcome names: the function, and the event as its cause (from outside: no hops yet). */
  private ending(
    source: ResolvedSource,
    event: SourceEvent,
  ): Pick<Ending, 'namespace' | 'function' | 'id' | 'hops'> {
    return {
      namespace: source.namespace,
      function: source.function,
      id: sourceEventKey('src', source, event.id),
      hops: 0,
    };
  }

  /** Deliveries in progress stop at their next step and reject. */
  stop(): void {
    this.stopping.abort();
  }

  private async deadLetter(
    source: ResolvedSource,
    event: SourceEvent,
    request: BufferedRequest,
    lastError: string,
    attempts: number,
    reason: 'max-deliver' | 'refused' = 'max-deliver',
  ): Promise<void> {
    const { evicted } = await this.deps.deadLetters.add({
      id: sourceEventKey('source', source, event.id),
      namespace: source.namespace,
      function: source.function,
      reason,
      lastError,
      attempts,
      request: {
        headers: { ...request.headers, [DEAD_LETTER_PSEUDO.method]: 'POST', [DEAD_LETTER_PSEUDO.path]: '/' },
        body: request.body,
      },
      failedAt: this.deps.clock.now(),
    });
    if (evicted.length > 0)
      this.deps.log.warn('dropped the oldest dead letters of a function at its bound', {
        function: `${source.namespace}/${source.function}`,
        dropped: evicted,
      });
    this.deps.log.warn('a source event was dead-lettered', { trigger: sourceKey(source), lastError });
  }
}
