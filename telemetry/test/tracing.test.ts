import assert from 'node:assert/strict';
import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../src/tracing.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const sampled = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
const notSampled = `00-${CALLER_TRACE}-${CALLER_SPAN}-00`;

/** Starts tracing into memory at `ratio`, records one server span under `headers`' parent, and returns what was exported. */
async function oneSpan(ratio: number, headers: Record<string, string>) {
  const exporter = new InMemorySpanExporter();
  const tracing = startTracing({ endpoint: undefined, sampleRatio: ratio, serviceName: 'svc' }, exporter);
  assert.ok(tracing.tracer !== undefined);
  const parent = tracing.extract(headers);
  const span = tracing.tracer.startSpan('invoke', { kind: SpanKind.SERVER }, parent);
  const outgoing: Record<string, string> = {};
  tracing.inject(trace.setSpan(parent, span), outgoing);
  span.end();
  await tracing.flush();
  const spans = exporter.getFinishedSpans();
  await tracing.shutdown();
  return { spans, outgoing, spanId: span.spanContext().spanId, traceId: span.spanContext().traceId };
}

describe('startTracing', () => {
  it('off without an endpoint: no tracer, and trace context still passes through', () => {
    const tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'svc' });
    assert.equal(tracing.tracer, undefined);
    const outgoing: Record<string, string> = {};
    tracing.inject(tracing.extract({ traceparent: sampled }), outgoing);
    assert.equal(outgoing.traceparent, sampled);
  });

  it('continues the caller’s trace: same trace id, the caller’s span as parent, and hands its own span on', async () => {
    const { spans, outgoing, spanId } = await oneSpan(1, { traceparent: sampled, tracestate: 'vendor=1' });
    assert.equal(spans.length, 1);
    const [span] = spans;
    assert.equal(span?.spanContext().traceId, CALLER_TRACE);
    assert.equal(span?.parentSpanContext?.spanId, CALLER_SPAN);
    assert.equal(span?.resource.attributes['service.name'], 'svc');
    assert.equal(outgoing.traceparent, `00-${CALLER_TRACE}-${spanId}-01`);
    assert.equal(outgoing.tracestate, 'vendor=1');
  });

  it('samples by the parent: a caller’s sampled flag wins over the ratio, both ways', async () => {
    assert.equal((await oneSpan(0, { traceparent: sampled })).spans.length, 1);
    const unsampled = await oneSpan(1, { traceparent: notSampled });
    assert.equal(unsampled.spans.length, 0);
    // Not recorded, but the trace goes on, marked not sampled, so later hops agree.
    assert.equal(unsampled.outgoing.traceparent?.slice(0, 35), `00-${CALLER_TRACE}`);
    assert.ok(unsampled.outgoing.traceparent?.endsWith('-00'));
  });

  it('starts a new trace at the ratio when the caller sends none, or a malformed one', async () => {
    const kept = await oneSpan(1, {});
    assert.equal(kept.spans.length, 1);
    assert.notEqual(kept.traceId, CALLER_TRACE);
    assert.equal(kept.spans[0]?.parentSpanContext, undefined);
    assert.equal((await oneSpan(0, {})).spans.length, 0);
    const forged = await oneSpan(1, { traceparent: `00-${'0'.repeat(32)}-${CALLER_SPAN}-01` });
    assert.equal(forged.spans.length, 1);
    assert.notEqual(forged.traceId, '0'.repeat(32), 'an all-zero trace id is invalid and not continued');
    assert.equal(forged.spans[0]?.parentSpanContext, undefined);
  });
});
