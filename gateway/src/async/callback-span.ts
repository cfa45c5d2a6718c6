import type { Tracing } from '@nimbus/telemetry';
import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/** What the span takes of a callback (a CallbackResult, without tying this file to the sender's). */
interface CallbackFacts {
  readonly callId: string;
  readonly outcome: 'succeeded' | 'failed';
  /** The call's trace context (its enqueue span). */
  readonly traceContext?: Readonly<Record<string, string>>;
}

/**
 * The client span of one callback, its retries included: a child of the call's enqueue span (the
 * trace context its message carried), so the callback sits in the call's trace beside the
 * attempts. The receiver gets this span as its `traceparent`. Only the receiver's host is
 * recorded: a callback URL's path and query often carry a secret.
 */
export class CallbackSpan {
  private constructor(private readonly span: Span) {}

  /** Starts the span and writes it onto the callback's `headers`; undefined when tracing is off. */
  static start(
    tracing: Tracing | undefined,
    result: CallbackFacts,
    headers: Record<string, string>,
  ): CallbackSpan | undefined {
    if (tracing?.tracer === undefined) return undefined;
    const tracer = tracing.tracer;
    const parent = tracing.extract(result.traceContext ?? {});
    const span = tracer.startSpan(
      'callback',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'nimbus.call_id': result.callId,
          'nimbus.call_status': result.outcome,
          'http.request.method': 'POST',
        },
      },
      parent,
    );
    tracing.inject(trace.setSpan(parent, span), headers);
    return new CallbackSpan(span);
  }

  /** The URL passed the egress checks; the request goes to it. */
  sending(url: URL): void {
    this.span.setAttribute('server.address', url.hostname);
  }

  /** The receiver's last answer. */
  answered(status: number): void {
    this.span.setAttribute('http.response.status_code', status);
  }

  /** Ends it; with `error`, the callback was given up for that reason. */
  end(error: string | undefined): void {
    if (error !== undefined) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    this.span.end();
  }
}
