import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';
import { type StoredSpan, TracingBackend } from '../harness/tracing-backend.js';

const CALLER_SPAN = 'b7ad6b7169203331';
const SERVER = 2;
const CLIENT = 3;

/** Counts its calls in ctx.state and asks `back` for a greeting. */
const FRONT = `export default async (event, ctx) => {
  const calls = await ctx.state.incr('calls');
  const back = await ctx.invoke('back', { from: 'front' });
  return { calls, back: back.body };
};`;
const BACK = `export default async () => ({ hello: 'from back' });`;

/**
 * Traces in local mode, asked for with NIMBUS_TRACING_ENDPOINT, stored in a real Jaeger: one
 * call through two functions (ctx.invoke) with ctx.state, every hop in one trace; and a cold
 * start whose hold shows the replica started for it.
 */
describe('local mode traces a call across functions and a cold start (Jaeger)', function () {
  this.timeout(90_000);
  let backend: TracingBackend;
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    backend = await TracingBackend.start();
    dir = await functionsFolder({
      'front.yaml': inlineFunction('front', FRONT, 'state: { enabled: true }'),
      'back.yaml': inlineFunction('back', BACK, 'scale:\n  min: 0\n  scaleToZeroAfter: 1s'),
    });
    platform = await LocalModeProcess.start(dir, { NIMBUS_TRACING_ENDPOINT: backend.otlpTracesUrl });
  });

  after(async () => {
    await platform?.stop();
    await backend?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const stored = (traceId: string, names: readonly string[]): Promise<StoredSpan[]> =>
    eventually(
      async () => {
        const spans = await backend.trace(traceId);
        return names.every((name) => spans.some((s) => s.name === name)) ? spans : undefined;
      },
      20_000,
      `the spans ${names.join(', ')} of trace ${traceId} in Jaeger`,
    );
  const replicas = async (name: string) => {
    const reply = await send(platform.url, '/system/functions', {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return reply
      .json<{ metadata: { name: string }; status: { replicas: number } }[]>()
      .find((f) => f.metadata.name === name)?.status.replicas;
  };

  it('a cold start: the hold’s step is the replica started for it, from spawn to ready', async () => {
    await eventually(async () => ((await replicas('back')) === 0 ? true : undefined), 20_000, 'back at zero');
    const traceId = '5af7651916cd43dd8448eb211c80319c';
    const reply = await send(platform.url, '/function/back', {
      headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` },
    });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    const spans = await stored(traceId, ['invoke default/back', 'hold', 'handler']);
    const hold = spans.find((s) => s.name === 'hold') as StoredSpan;
    const started = spans.find((s) => s.name === 'start replica' || s.name === 'specialise pool replica');
    assert.ok(started !== undefined, spans.map((s) => s.name).join(', '));
    assert.equal(started.parentSpanId, hold.spanId);
    assert.match(String(started.attributes['nimbus.replica']), /^default\/back#/);
    assert.equal(started.status.code, 0, 'the replica came up');
    assert.ok(started.durationMs <= hold.durationMs + 1, 'the start lies within the hold');
  });

  it('one trace through front, its ctx.state call, its ctx.invoke of back and back’s handler', async () => {
    const traceId = '6af7651916cd43dd8448eb211c80319c';
    const reply = await send(platform.url, '/function/front', {
      headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` },
    });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json<{ back: unknown }>().back, { hello: 'from back' });
    const spans = await stored(traceId, [
      'invoke default/front',
      'ctx.state incr',
      'ctx.invoke back',
      'invoke default/back',
    ]);
    const named = (name: string, fn?: string) => {
      const found = spans.filter(
        (s) => s.name === name && (fn === undefined || s.attributes['nimbus.function'] === fn),
      );
      assert.equal(
        found.length,
        1,
        `${name} ${fn ?? ''}: ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`,
      );
      return found[0] as StoredSpan;
    };
    const front = named('invoke default/front');
    const frontHandler = named('handler', 'default/front');
    const state = named('ctx.state incr');
    const invoke = named('ctx.invoke back');
    const back = named('invoke default/back');
    const backHandler = named('handler', 'default/back');
    const parentOf = (span: StoredSpan) => spans.find((s) => s.spanId === span.parentSpanId);

    assert.equal(front.parentSpanId, CALLER_SPAN);
    assert.equal(parentOf(frontHandler)?.name, 'forward');
    assert.equal(parentOf(parentOf(frontHandler) as StoredSpan)?.spanId, front.spanId);
    assert.equal(frontHandler.service, 'nimbus-function');
    assert.equal(frontHandler.kind, SERVER);
    for (const call of [state, invoke]) {
      assert.equal(call.parentSpanId, frontHandler.spanId, `${call.name} under front’s handler`);
      assert.equal(call.kind, CLIENT);
    }
    assert.equal(invoke.attributes['http.response.status_code'], 200);
    assert.equal(back.parentSpanId, invoke.spanId, 'the nested call continues under ctx.invoke');
    assert.equal(back.service, 'nimbus-gateway');
    assert.equal(parentOf(parentOf(backHandler) as StoredSpan)?.spanId, back.spanId);
  });
});
