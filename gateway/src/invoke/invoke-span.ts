import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Tracing } from '@nimbus/telemetry';
import {
  type Context,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/**
 * The spans of one synchronous call through the gateway, made only when tracing is on: a server
 * span from the request's arrival to its response's end, a child of the caller's `traceparent`
 * (or a new trace's root), and under it a `hold` span while the function had no ready replica.
 * The replica gets this span as its parent, so the runtime's spans hang under the gateway's.
 */
export class InvokeSpan {
  private holding: Span | undefined;

  private constructor(
    private readonly tracing: Tracing,
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  /** Starts the call's span, ended when the response closes; undefined when tracing is off. */
  static start(tracing: Tracing, req: IncomingMessage, res: ServerResponse): InvokeSpan | undefined {
    const tracer = tracing.tracer;
    if (tracer === undefined) return undefined;
    const parent = tracing.extract(req.headers);
    const span = tracer.startSpan(
      'invoke',
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? '' } },
      parent,
    );
    const call = new InvokeSpan(tracing, tracer, span, trace.setSpan(parent, span));
    // 'close' comes after the response is sent, and also when the caller hangs up first.
    res.once('close', () => call.end(res));
    return call;
  }

  /** The trace's id when it is sampled (its spans are exported): the duration metric's exemplar links to it. */
  get traceId(): string | undefined {
    const { traceId, traceFlags } = this.span.spanContext();
    return (traceFlags & TraceFlags.SAMPLED) === 0 ? undefined : traceId;
  }

  /** Admission found the function: the span is named after it. */
  admitted(key: string): void {
    this.span.updateName(`invoke ${key}`);
    this.span.setAttribute('nimbus.function', key);
  }

  /** The request goes to a replica with this call id, and with this span as its parent. */
  forwarding(callId: string, headers: OutgoingHttpHeaders): void {
    this.span.setAttribute('nimbus.call_id', callId);
    // The caller's tracestate goes on only with a valid traceparent (W3C): inject writes it back then.
    delete headers.tracestate;
    this.tracing.inject(this.context, headers as Record<string, string>);
  }

  /** The function has no ready replica: the request waits (a cold start, as the caller sees it). */
  held(): void {
    this.span.setAttribute('nimbus.cold_start', true);
    this.holding = this.tracer.startSpan('hold', {}, this.context);
  }

  /** A replica is ready, or the wait failed with `problem`. */
  released(problem?: { status: number; message: string }): void {
    if (problem !== undefined) {
      this.holding?.setAttribute('http.response.status_code', problem.status);
      this.holding?.setStatus({ code: SpanStatusCode.ERROR, message: problem.message });
    }
    this.holding?.end();
    this.holding = undefined;
  }

  private end(res: ServerResponse): void {
    if (this.holding !== undefined) {
      // The caller left while it was held.
      this.holding.setStatus({ code: SpanStatusCode.ERROR, message: 'the caller closed the connection' });
      this.released();
    }
    this.span.setAttribute('http.response.status_code', res.writableFinished ? res.statusCode : 499);
    if (!res.writableFinished)
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: 'closed before the response ended' });
    else if (res.statusCode >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR });
    this.span.end();
  }
}
