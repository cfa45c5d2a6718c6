import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { TRACE_REQUEST_HEADER } from '@nimbus/api/replica-spans';
import { SpanStep, type Tracing } from '@nimbus/telemetry';
import {
  type Context,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { WakeTrace } from '../routing/waker.js';
import { adoptReplicaSpans } from './replica-spans.js';

/**
 * The spans of one synchronous call through the gateway, made only when tracing is on: a server
 * span from the request's arrival to its response's end, a child of the caller's `traceparent`
 * (or a new trace's root); under it a `hold` span while the function had no ready replica, and a
 * `forward` client span per attempt on a replica. The replica gets the forward span as its parent
 * and sends its own spans back with the response (replica-spans.ts), recorded under it.
 */
export class InvokeSpan {
  private holding: Span | undefined;
  private forward: Span | undefined;
  private key = '';
  /**
   * A call the sampler left out records nothing: it only passes its context (flagged not sampled)
   * on to the replica, so the decision holds downstream. Measured at ratio 0 on the benchmarks'
   * machine, the full span work on every such call cost the gateway 18% of its throughput.
   */
  private readonly recording: boolean;

  private constructor(
    private readonly tracing: Tracing,
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly context: Context,
  ) {
    this.recording = span.isRecording();
  }

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
    if (call.recording) res.once('close', () => call.end(res));
    return call;
  }

  /** The trace's id when it is sampled (its spans are exported): the duration metric's exemplar links to it. */
  get traceId(): string | undefined {
    const { traceId, traceFlags } = this.span.spanContext();
    return (traceFlags & TraceFlags.SAMPLED) === 0 ? undefined : traceId;
  }

  /** Admission found the function: the span is named after it. */
  admitted(key: string): void {
    if (!this.recording) return;
    this.key = key;
    this.span.updateName(`invoke ${key}`);
    this.span.setAttribute('nimbus.function', key);
  }

  /** The request will go to a replica with this call id. */
  forwarding(callId: string, headers: OutgoingHttpHeaders): void {
    // The caller's tracestate goes on only with a valid traceparent (W3C): inject writes it back then.
    if (headers.tracestate !== undefined) delete headers.tracestate;
    if (this.recording) this.span.setAttribute('nimbus.call_id', callId);
    // Unsampled, every attempt carries the call's own context: there is no forward span.
    else this.tracing.inject(this.context, headers as Record<string, string>);
  }

  /** An attempt on the replica at `origin`: its span becomes the replica's parent, and the replica is asked for its spans. */
  sending(origin: string, headers: OutgoingHttpHeaders): void {
    if (!this.recording) return;
    this.attemptFailed('tried another replica');
    this.forward = this.tracer.startSpan(
      'forward',
      { kind: SpanKind.CLIENT, attributes: { 'server.address': origin } },
      this.context,
    );
    const forwardContext = trace.setSpan(this.context, this.forward);
    this.tracing.inject(forwardContext, headers as Record<string, string>);
    headers[TRACE_REQUEST_HEADER] = '1';
  }

  /** The replica answered: its spans (the response header's value, if any) go under the attempt's. */
  answered(status: number, spans: string | undefined): void {
    const forward = this.forward;
    if (forward === undefined) return;
    this.forward = undefined;
    forward.setAttribute('http.response.status_code', status);
    if (spans !== undefined) adoptReplicaSpans(this.tracing, this.context, forward, spans, this.key);
    forward.end();
  }

  /** The attempt got no answer (`reason`): the next attempt, or the call's problem, follows. */
  attemptFailed(reason: string): void {
    if (this.forward === undefined) return;
    this.forward.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.forward.end();
    this.forward = undefined;
  }

  /** The function has no ready replica: the request waits (a cold start, as the caller sees it). */
  held(): WakeTrace | undefined {
    if (!this.recording) return undefined;
    this.span.setAttribute('nimbus.cold_start', true);
    const holding = this.tracer.startSpan('hold', {}, this.context);
    this.holding = holding;
    return wakeTraceUnder(this.tracing, this.tracer, trace.setSpan(this.context, holding));
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
    this.attemptFailed('the call ended without an answer');
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

/** Steps of a wake as child spans of the `hold` span in `parent`. */
export function wakeTraceUnder(tracing: Tracing, tracer: Tracer, parent: Context): WakeTrace {
  return {
    step(name, attributes, headers) {
      const span = tracer.startSpan(
        name,
        { kind: headers === undefined ? SpanKind.INTERNAL : SpanKind.CLIENT, attributes },
        parent,
      );
      if (headers !== undefined) tracing.inject(trace.setSpan(parent, span), headers);
      return new SpanStep(span);
    },
  };
}
