import type { IncomingMessage, ServerResponse } from 'node:http';
import { callSubject } from '@nimbus/bus';
import type { Tracing } from '@nimbus/telemetry';
import { type Context, type Span, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';

/**
 * The producer span of an async call's POST, from the request's arrival to its answer: a child of
 * the caller's `traceparent` (or a new trace's root; a malformed one and its `tracestate` are
 * dropped). Its context travels in the call's message, and the worker's spans (the queue wait,
 * each attempt, the callback) are its children on the far side of JetStream: parent, not link,
 * so the whole call is one trace, as the caller and a dashboard expect to find it.
 */
export class EnqueueSpan {
  private constructor(
    private readonly tracing: Tracing,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  /** Starts the span, ended when the response closes; undefined when tracing is off. */
  static start(
    tracing: Tracing | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): EnqueueSpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    const tracer = tracing.tracer;
    const parent = tracing.extract(req.headers);
    const span = tracer.startSpan('enqueue', { kind: SpanKind.PRODUCER }, parent);
    const enqueue = new EnqueueSpan(tracing, span, trace.setSpan(parent, span));
    res.once('close', () => enqueue.end(res));
    return enqueue;
  }

  /** The POST names a function that exists: the span is named after it. */
  admitted(namespace: string, name: string): void {
    this.span.updateName(`enqueue ${namespace}/${name}`);
    this.span.setAttributes({
      'nimbus.function': `${namespace}/${name}`,
      'messaging.system': 'nats',
      'messaging.destination.name': callSubject(namespace, name),
    });
  }

  /**
   * The call `id` is about to be queued: the trace context its message carries, and the trace id
   * its record keeps (only for a sampled trace: a dashboard's link must lead to spans).
   */
  queuing(id: string): { traceContext: Record<string, string>; traceId: string | undefined } {
    this.span.setAttribute('nimbus.call_id', id);
    const traceContext: Record<string, string> = {};
    this.tracing.inject(this.context, traceContext);
    const { traceId, traceFlags } = this.span.spanContext();
    return { traceContext, traceId: (traceFlags & TraceFlags.SAMPLED) !== 0 ? traceId : undefined };
  }

  /** The same call id was queued before: this POST stored nothing new. */
  duplicate(): void {
    this.span.setAttribute('nimbus.duplicate', true);
  }

  private end(res: ServerResponse): void {
    const status = res.writableFinished ? res.statusCode : 499;
    this.span.setAttribute('http.response.status_code', status);
    if (status >= 500 || !res.writableFinished)
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${status}` });
    this.span.end();
  }
}
