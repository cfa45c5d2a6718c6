import type { Schedule } from '@nimbus/api';
import { TRACE_REQUEST_HEADER } from '@nimbus/api/replica-spans';
import type { BusMessage } from '@nimbus/bus';
import type { Tracing } from '@nimbus/telemetry';
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { BufferedRequest, CallOutcome } from '../invoke/invoker.js';
import { adoptReplicaSpans } from '../invoke/replica-spans.js';
import type { CallRequest } from './call-message.js';

/** The trace headers a request to a replica carries: the delivery's own, never the event's as they came. */
const TRACE_HEADERS = new Set(['traceparent', 'tracestate', TRACE_REQUEST_HEADER]);

/** How a delivery ended, as the worker that ran it settled it. */
export interface DeliveryEnd {
  /** The answer or failure of the invocation; absent when none was made (the function is unknown). */
  readonly outcome?: CallOutcome;
  /** Why the delivery failed; undefined when it succeeded. */
  readonly error: string | undefined;
  /** It will be delivered again (an async call's retry, a trigger event's redelivery). */
  readonly retried: boolean;
  /** It ran out of attempts and was written to the dead letters. */
  readonly deadLettered?: boolean;
}

/**
 * A consumer span over one delivery of work the gateway did not get over HTTP: an attempt of an
 * async call, a NATS trigger's event, a cron tick. Its parent is the trace context the work
 * carried (the async call's enqueue span, a CloudEvent's `traceparent`), read as untrusted: a
 * malformed one is dropped and the delivery starts a trace of its own. The replica's request
 * gets this span as its parent, so the runtime's spans hang under the delivery.
 *
 * Made only when tracing is on (each maker answers undefined otherwise, on one check, before
 * anything is allocated), so a delivery costs nothing more with tracing off.
 */
export class DeliverySpan {
  private constructor(
    private readonly tracing: Tracing,
    private readonly span: Span,
    private readonly context: Context,
    private readonly functionKey: string,
  ) {}

  /** Attempt `attempt` of an async call, under its enqueue span; the first also records the queue wait. */
  static attempt(
    tracing: Tracing | undefined,
    subject: string,
    call: CallRequest,
    attempt: number,
    startedAt: number,
  ): DeliverySpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    const parent = tracing.extract(call.traceContext ?? {});
    const fn = `${call.namespace}/${call.function}`;
    if (attempt === 1) {
      // Dates, not numbers: OpenTelemetry reads a number from before this process started as a performance.now().
      const since = new Date(Math.min(call.acceptedAt, startedAt));
      tracing.tracer
        .startSpan(
          'queue wait',
          { attributes: { 'nimbus.function': fn, 'nimbus.call_id': call.id }, startTime: since },
          parent,
        )
        .end(new Date(startedAt));
    }
    return DeliverySpan.start(tracing, 'attempt', parent, {
      'nimbus.function': fn,
      'nimbus.call_id': call.id,
      'nimbus.attempt': attempt,
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
    });
  }

  /**
   * The delivery of a NATS trigger's event to `namespace/name` through the durable `trigger`,
   * under the event's `traceparent` (CloudEvents' distributed tracing extension) if it has one.
   */
  static event(
    tracing: Tracing | undefined,
    message: BusMessage,
    namespace: string,
    name: string,
    trigger: string,
  ): DeliverySpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    const attributes = {
      'nimbus.function': `${namespace}/${name}`,
      'nimbus.trigger': trigger,
      'nimbus.attempt': message.deliveryCount,
      'messaging.system': 'nats',
      'messaging.destination.name': message.subject,
      'messaging.message.id': message.id,
    };
    // A malformed traceparent names no parent: the delivery is a root.
    return DeliverySpan.start(tracing, 'trigger', tracing.extract(message.headers), attributes);
  }

  /**
   * A delivery of something else the gateway consumes (a queue message run straight from its
   * broker), under the W3C trace context `carrier` holds, read as untrusted like the rest.
   */
  static message(
    tracing: Tracing | undefined,
    carrier: Readonly<Record<string, string | undefined>>,
    attributes: Attributes & { 'nimbus.function': string },
  ): DeliverySpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    return DeliverySpan.start(tracing, 'trigger', tracing.extract(carrier), attributes);
  }

  /** A cron tick's invocation: always a trace of its own, since nothing sent it. */
  static tick(tracing: Tracing | undefined, schedule: Schedule, tickAt: number): DeliverySpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    const attributes = {
      'nimbus.function': `${schedule.namespace}/${schedule.function}`,
      'nimbus.schedule': schedule.key,
      'nimbus.schedule.cron': schedule.cron,
      'nimbus.schedule.tick': new Date(tickAt).toISOString(),
      'nimbus.attempt': 1,
    };
    return DeliverySpan.start(tracing, 'schedule', ROOT_CONTEXT, attributes);
  }

  /** The span `{kind} {namespace}/{function}` under `parent`. */
  private static start(
    tracing: Tracing,
    kind: string,
    parent: Context,
    attributes: Attributes & { 'nimbus.function': string },
  ): DeliverySpan {
    const name = `${kind} ${attributes['nimbus.function']}`;
    const span = (tracing.tracer as Tracer).startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
    return new DeliverySpan(tracing, span, trace.setSpan(parent, span), attributes['nimbus.function']);
  }

  /** `request` with this span as the replica's parent, in place of any trace headers it came with. */
  request(request: BufferedRequest): BufferedRequest {
    const headers: Record<string, string> = {};
    // Any case: a message published straight to the queue may carry `Traceparent`.
    for (const [name, value] of Object.entries(request.headers))
      if (!TRACE_HEADERS.has(name.toLowerCase())) headers[name] = value;
    this.tracing.inject(this.context, headers);
    // The replica hands its own spans back with the answer, recorded under this one (end).
    headers[TRACE_REQUEST_HEADER] = '1';
    return { ...request, headers };
  }

  /**
   * Ends the span once `settled` says how the delivery ended. Settling that fails (Redis or NATS
   * away) puts the delivery back for later, a retry too; the failure is passed on.
   */
  async endWhen(settled: Promise<DeliveryEnd>, outcome?: CallOutcome): Promise<void> {
    let end: DeliveryEnd;
    try {
      end = await settled;
    } catch (err) {
      this.end({ outcome, error: (err as Error).message, retried: true });
      throw err;
    }
    this.end({ outcome, ...end });
  }

  /** Ends the span with how the delivery went: its status code, its error, whether it goes again. */
  end({ outcome, error, retried, deadLettered }: DeliveryEnd): void {
    const span = this.span;
    if (outcome !== undefined) {
      span.setAttribute(
        'http.response.status_code',
        outcome.kind === 'response' ? outcome.status : outcome.problem.status,
      );
      if (outcome.initMs !== undefined) span.setAttribute('nimbus.cold_start', true);
      if (outcome.kind === 'response' && outcome.replicaSpans !== undefined)
        adoptReplicaSpans(this.tracing, this.context, span, outcome.replicaSpans, this.functionKey);
    }
    span.setAttribute('nimbus.retried', retried);
    if (deadLettered === true) span.setAttribute('nimbus.dead_lettered', true);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end();
  }
}
