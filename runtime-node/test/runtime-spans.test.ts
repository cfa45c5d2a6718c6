import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SpanRecord } from '../src/invoke/invocation-spans.js';
import { removeFunctionDirs } from './support/function-dir.js';
import { eventually, metric, request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const GATEWAY_SPAN = '00f067aa0ba902b7';

const TRACED_HEADERS = { traceparent: `00-${TRACE}-${GATEWAY_SPAN}-01`, 'x-nimbus-trace': '1' };

const decode = (header: string | string[] | undefined): SpanRecord[] =>
  JSON.parse(Buffer.from(String(header), 'base64url').toString('utf8')) as SpanRecord[];

function spanNamed(spans: SpanRecord[], name: string): SpanRecord {
  const span = spans.find((s) => s.n === name);
  assert.ok(span, `no span ${name} in ${spans.map((s) => s.n).join(', ')}`);
  return span;
}

/**
 * The runtime's spans, as each runtime records them and hands them back with the response when
 * (and only when) the gateway asks for them in a sampled trace. The handler (TRACED) calls another
 * function and ctx.state, which is not configured here, so that call fails.
 */
function describeSpans(subject: RuntimeUnderTest): void {
  describe(`runtime process: spans for the gateway (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess;
    let gateway: http.Server;
    const seenByGateway: (string | undefined)[] = [];
    /** The stub gateway answers once this settles: a test holds a call by replacing it. */
    let gate = Promise.resolve();

    before(async () => {
      // Plays the gateway for ctx.invoke: notes the traceparent each call carries.
      gateway = http.createServer((req, res) => {
        seenByGateway.push(req.headers.traceparent as string | undefined);
        req.resume();
        req.on('end', () => {
          void gate.then(() => res.writeHead(202, { 'content-type': 'application/json' }).end('{}'));
        });
      });
      await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
      runtime = await startRuntime(subject, subject.traced, {
        NIMBUS_FUNCTION_NAME: 'traced',
        NIMBUS_FUNCTION_NAMESPACE: 'tests',
        NIMBUS_GATEWAY_URL: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
        // One call at a time, so a second one waits for a slot.
        NIMBUS_CONCURRENCY: '1',
      });
    });

    after(async () => {
      await runtime?.stop();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      removeFunctionDirs();
    });

    it('records the handler, ctx.invoke and ctx.state under the gateway’s span, and ctx.invoke carries its own span', async () => {
      seenByGateway.length = 0;
      const reply = await request(runtime.port, '/', {
        headers: { ...TRACED_HEADERS, 'x-call-id': 'call-1' },
      });
      assert.equal(reply.status, 200);
      assert.equal((reply.json() as { other: number }).other, 202);
      const spans = decode(reply.headers['x-nimbus-spans']);
      const handler = spanNamed(spans, 'handler');
      const invoke = spanNamed(spans, 'ctx.invoke other');
      const state = spanNamed(spans, 'ctx.state get');
      assert.equal(handler.p, GATEWAY_SPAN);
      assert.equal(handler.k, 'server');
      assert.equal(handler.a?.['nimbus.invocation_id'], 'call-1');
      assert.equal(handler.a?.['http.response.status_code'], 200);
      assert.equal(invoke.p, handler.i);
      assert.equal(invoke.k, 'client');
      assert.equal(invoke.a?.['http.response.status_code'], 202);
      assert.equal(state.p, handler.i);
      assert.ok(state.x !== undefined && state.x.length > 0, 'the failed state call says why');
      assert.equal(state.a?.['nimbus.state.key_length'], 'some-key'.length);
      assert.ok(!JSON.stringify(spans).includes('some-key'), 'the key itself is not recorded');
      for (const s of spans) {
        assert.ok(Number.isSafeInteger(s.s) && s.s > 0 && s.e >= s.s, `${s.n} has times`);
        assert.match(s.i, /^[0-9a-f]{16}$/);
      }
      assert.equal(new Set(spans.map((s) => s.i)).size, spans.length, 'the ids are unique');
      assert.ok(handler.s <= invoke.s && invoke.e <= handler.e, 'the call lies inside the handler');
      assert.deepEqual(
        seenByGateway,
        [`00-${TRACE}-${invoke.i}-01`],
        'the callee’s parent is the ctx.invoke span',
      );
    });

    it('records the wait for a slot when the only one is taken', async () => {
      const { port } = runtime;
      let open = () => {};
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const first = request(port, '/');
      await eventually(
        async () => ((await metric(port, 'nimbus_runtime_inflight_requests')) === 1 ? true : undefined),
        3000,
        'the first call holds the slot',
      );
      const second = request(port, '/', { headers: TRACED_HEADERS });
      await eventually(
        async () => ((await metric(port, 'nimbus_runtime_queued_requests')) === 1 ? true : undefined),
        3000,
        'the second call is queued',
      );
      open();
      gate = Promise.resolve();
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.equal(a.headers['x-nimbus-spans'], undefined, 'the untraced call records nothing');
      const spans = decode(b.headers['x-nimbus-spans']);
      const handler = spanNamed(spans, 'handler');
      const wait = spanNamed(spans, 'wait for a slot');
      const invoke = spanNamed(spans, 'ctx.invoke other');
      assert.equal(wait.p, handler.i);
      assert.equal(wait.k, 'internal');
      assert.ok(handler.s <= wait.s && wait.e <= invoke.s, 'the wait comes before the handler runs');
    });

    // Sending the first 64 spans to end would leave out the handler's (it ends last), and the gateway
    // would refuse them all; and 64 spans with errors make a head larger than the gateway's client
    // takes (16 KiB), which would fail the call.
    it('keeps the handler’s span and a header the gateway can read when a call makes too many', async () => {
      const reply = await request(runtime.port, '/many', { headers: TRACED_HEADERS });
      assert.equal(reply.status, 200);
      const header = String(reply.headers['x-nimbus-spans']);
      assert.ok(header.length <= 10_000, `${header.length} characters`);
      const spans = decode(header);
      const handler = spanNamed(spans, 'handler');
      const dropped = handler.a?.['nimbus.spans_dropped'];
      assert.ok(typeof dropped === 'number' && dropped > 0, 'the handler says how many were left out');
      assert.equal(spans.length - 1 + dropped, 80, 'every state call is sent or counted');
      assert.ok(spans.length <= 64);
      for (const s of spans)
        assert.ok(s.p === GATEWAY_SPAN || s.p === handler.i, `${s.n} hangs under the call`);
    });

    it('records nothing unless the gateway asks, in a sampled trace; a handler cannot write the header', async () => {
      for (const headers of [
        { traceparent: `00-${TRACE}-${GATEWAY_SPAN}-01` },
        { traceparent: `00-${TRACE}-${GATEWAY_SPAN}-00`, 'x-nimbus-trace': '1' },
        { traceparent: 'garbage', 'x-nimbus-trace': '1' },
      ]) {
        seenByGateway.length = 0;
        const reply = await request(runtime.port, '/', { headers });
        assert.equal(reply.status, 200);
        assert.equal(reply.headers['x-nimbus-spans'], undefined, JSON.stringify(headers));
        // Untraced, ctx.invoke passes on the traceparent the invocation came with.
        assert.deepEqual(seenByGateway, [headers.traceparent]);
      }
    });
  });
}

for (const subject of RUNTIMES) describeSpans(subject);
