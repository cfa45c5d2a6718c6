import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createLogger, validateFunction } from '@nimbus/api';
import { MemoryBus } from '@nimbus/bus';
import { type CallRecord, type Stores, createMemoryStores } from '@nimbus/store';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { eventually, send } from '@nimbus/testkit';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { encodeCall } from '../src/async/call-message.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { byAttempt } from './delivery-outcomes.js';
import { upstream } from './replicas.js';

const ADMIN = 'admin-key-0123456789';
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

/** Retried on a 500 after 20 ms, three attempts at most. */
const job = (() => {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'job', namespace: 'default' },
    spec: {
      source: { inline: 'export default () => 1' },
      async: { maxAttempts: 3, retryOn: [500], backoff: { initial: '20ms', max: '20ms' } },
    },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
})();

/** The traceparent a request carried: its trace and parent span, or undefined. */
const parentOf = (headers: IncomingHttpHeaders) => {
  const [, traceId, spanId] = TRACEPARENT.exec(String(headers.traceparent ?? '')) ?? [];
  return traceId === undefined ? undefined : { traceId, spanId };
};

describe('async calls: spans across the queue (in-memory exporter, real sockets)', function () {
  this.timeout(20_000);
  let gateway: Gateway;
  let base: string;
  let stores: Stores;
  let bus: MemoryBus;
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  /** What the replica and the callback receiver saw, in order. */
  let replicaSaw: IncomingHttpHeaders[];
  let callbackSaw: IncomingHttpHeaders[];
  const servers: Server[] = [];
  let callbackUrl: string;

  /** A gateway whose replica answers 500 to the first request and 200 after; `traced`: with the exporter. */
  const start = async (traced: boolean, sampleRatio = 1) => {
    replicaSaw = [];
    callbackSaw = [];
    const replica = await upstream((req, res) => {
      replicaSaw.push(req.headers);
      res.statusCode = replicaSaw.length === 1 ? 500 : 200;
      res.end('done');
    });
    const receiver = await upstream((req, res) => {
      callbackSaw.push(req.headers);
      req.resume();
      res.end();
    });
    servers.push(replica.server, receiver.server);
    callbackUrl = `http://127.0.0.1:${receiver.port}/hook`;
    const routes = new RouteTable();
    routes.upsert({ name: 'job', namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
    routes.setEndpoints(
      'default',
      'job',
      [{ id: 'job-0', host: '127.0.0.1', port: replica.port }],
      'starting',
    );
    stores = createMemoryStores();
    bus = new MemoryBus();
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ endpoint: undefined, sampleRatio, serviceName: 'nimbus-gateway' }, exporter);
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN}`,
      // The callback receiver listens on loopback.
      NIMBUS_EGRESS_ALLOW: 'loopback',
    });
    gateway = createGatewayContainer(config, {
      routes,
      directory: { list: () => [job], get: () => job },
      stores,
      bus,
      logger: createLogger({}, 'error', () => {}),
      callbackRetryBaseMs: 20,
      ...(traced ? { tracing } : {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    await eventually(
      async () => ((await bus.consumerInfo('NIMBUS_CALLS', 'nimbus-calls')) ? true : undefined),
      5_000,
      'the calls stream',
    );
  };
  const queue = async (headers: Record<string, string>): Promise<string> => {
    const reply = await send(base, '/async-function/job', { method: 'POST', headers, body: 'x' });
    assert.equal(reply.status, 202, reply.text);
    return reply.headers['x-call-id'] as string;
  };
  const finished = (id: string) =>
    eventually(
      async () => {
        const record = await stores.calls.get(id);
        return record?.status === 'succeeded' && callbackSaw.length > 0 ? record : undefined;
      },
      10_000,
      `call ${id} done and called back`,
    );
  /** The spans ended so far, once `names` all have. */
  const spans = (...names: string[]): Promise<ReadableSpan[]> =>
    eventually(
      async () => {
        await tracing.flush();
        const ended = exporter.getFinishedSpans();
        const have = ended.map((s) => s.name);
        return names.every((n) => have.filter((h) => h === n).length >= names.filter((m) => m === n).length)
          ? ended
          : undefined;
      },
      5_000,
      `spans ${names.join(', ')}`,
    );

  afterEach(async () => {
    await gateway.close();
    await bus.close();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('one trace per call: the enqueue under the caller, then the wait, each attempt and the callback under it', async () => {
    await start(true);
    const id = await queue({
      traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
      tracestate: 'team=a',
      'x-callback-url': callbackUrl,
    });
    const record = await finished(id);
    const ended = await spans(
      'enqueue default/job',
      'queue wait',
      'attempt default/job',
      'attempt default/job',
      'callback',
    );
    const enqueue = ended.find((s) => s.name === 'enqueue default/job') as ReadableSpan;
    assert.equal(enqueue.kind, SpanKind.PRODUCER);
    assert.equal(enqueue.spanContext().traceId, CALLER_TRACE);
    assert.equal(enqueue.parentSpanContext?.spanId, CALLER_SPAN);
    assert.equal(enqueue.attributes['nimbus.call_id'], id);
    assert.equal(enqueue.attributes['messaging.destination.name'], 'nimbus.calls.default.job');
    assert.equal(enqueue.attributes['http.response.status_code'], 202);
    assert.equal(record.traceId, CALLER_TRACE, 'the record links to the trace');
    const shown = await send(base, `/system/calls/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal((shown.json() as CallRecord).traceId, CALLER_TRACE, 'GET /system/calls/{id} shows it');

    const underEnqueue = (s: ReadableSpan) =>
      s.spanContext().traceId === CALLER_TRACE &&
      s.parentSpanContext?.spanId === enqueue.spanContext().spanId;
    const wait = ended.find((s) => s.name === 'queue wait') as ReadableSpan;
    assert.ok(underEnqueue(wait), 'the wait is a child of the enqueue');
    assert.equal(wait.attributes['nimbus.call_id'], id);
    const attempts = byAttempt(ended.filter((s) => s.name === 'attempt default/job'));
    assert.deepEqual(
      attempts.map((s) => [
        s.kind,
        underEnqueue(s),
        s.attributes['nimbus.attempt'],
        s.attributes['http.response.status_code'],
        s.attributes['nimbus.retried'],
        s.status.code,
      ]),
      [
        [SpanKind.CONSUMER, true, 1, 500, true, SpanStatusCode.ERROR],
        [SpanKind.CONSUMER, true, 2, 200, false, SpanStatusCode.UNSET],
      ],
    );
    assert.match(String(attempts[0]?.status.message), /attempt 1/);
    assert.deepEqual(
      replicaSaw.map(parentOf),
      attempts.map((s) => ({ traceId: CALLER_TRACE, spanId: s.spanContext().spanId })),
      'each request to the replica hangs under its own attempt',
    );
    assert.equal(replicaSaw[1]?.tracestate, 'team=a', 'the caller’s tracestate goes on with its trace');

    const callback = ended.find((s) => s.name === 'callback') as ReadableSpan;
    assert.ok(underEnqueue(callback));
    assert.equal(callback.kind, SpanKind.CLIENT);
    assert.equal(callback.attributes['http.response.status_code'], 200);
    assert.equal(callback.attributes['server.address'], '127.0.0.1');
    assert.equal(callback.attributes['nimbus.call_status'], 'succeeded');
    assert.equal(String(callback.attributes['url.full'] ?? ''), '', 'no URL, which may carry a secret');
    assert.deepEqual(parentOf(callbackSaw[0] ?? {}), {
      traceId: CALLER_TRACE,
      spanId: callback.spanContext().spanId,
    });
  });

  it('drops a caller’s malformed traceparent and its tracestate: the call starts a trace of its own', async () => {
    await start(true);
    const id = await queue({ traceparent: `00-${CALLER_TRACE}-not-a-span-01`, tracestate: 'forged=1' });
    const ended = await spans('enqueue default/job', 'attempt default/job', 'attempt default/job');
    const enqueue = ended.find((s) => s.name === 'enqueue default/job') as ReadableSpan;
    const trace = enqueue.spanContext().traceId;
    assert.equal(enqueue.parentSpanContext, undefined, 'a root');
    assert.notEqual(trace, CALLER_TRACE);
    assert.equal((await stores.calls.get(id))?.traceId, trace);
    for (const seen of replicaSaw) {
      assert.equal(parentOf(seen)?.traceId, trace);
      assert.equal(seen.tracestate, undefined);
    }
  });

  it('a message published to the queue with a forged trace context: the attempt and callback are roots, and the replica never sees it', async () => {
    await start(true);
    const forged = {
      traceparent: 'ff-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff',
      tracestate: 'evil=1',
    };
    const message = encodeCall(
      {
        id: 'forged-1',
        namespace: 'default',
        function: 'job',
        method: 'POST',
        path: '/',
        // A request header that names a valid parent is no trace context for the worker either.
        headers: { 'x-call-id': 'forged-1', Traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
        body: Buffer.from('x'),
        // The front door refuses such a callback; one in a message is refused by the sender.
        callbackUrl: 'http://169.254.169.254/latest/meta-data',
        acceptedAt: Date.now(),
        traceContext: forged,
      },
      'forged-1',
    );
    await bus.publish(message.subject, message.data, message.options);
    const ended = await spans('attempt default/job', 'attempt default/job', 'callback');
    const callback = ended.find((s) => s.name === 'callback');
    assert.equal(callback?.parentSpanContext, undefined);
    assert.equal(callback?.status.code, SpanStatusCode.ERROR);
    assert.match(String(callback?.status.message), /refused/);
    assert.equal(callback?.attributes['server.address'], '169.254.169.254');
    assert.equal(callback?.attributes['http.response.status_code'], undefined, 'no answer: never connected');
    const attempts = ended.filter((s) => s.name === 'attempt default/job');
    for (const [i, attempt] of attempts.entries()) {
      assert.equal(attempt.parentSpanContext, undefined, 'a root: nothing forged is trusted');
      assert.notEqual(attempt.spanContext().traceId, CALLER_TRACE);
      assert.deepEqual(parentOf(replicaSaw[i] ?? {}), {
        traceId: attempt.spanContext().traceId,
        spanId: attempt.spanContext().spanId,
      });
      assert.equal(replicaSaw[i]?.tracestate, undefined);
    }
  });

  it('an unsampled trace: nothing recorded, and the record names no trace to link to', async () => {
    await start(true, 0);
    const id = await queue({ 'x-callback-url': callbackUrl });
    await finished(id);
    await tracing.flush();
    assert.deepEqual(exporter.getFinishedSpans(), []);
    assert.equal(((await stores.calls.get(id)) as CallRecord).traceId, undefined);
    assert.match(String(replicaSaw[0]?.traceparent), /-00$/, 'the replica is told it is not sampled');
  });

  it('tracing off: no spans, no trace id, and the caller’s traceparent reaches the replica as it came', async () => {
    await start(false);
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const id = await queue({ traceparent, 'x-callback-url': callbackUrl });
    const record = await finished(id);
    assert.equal(record.traceId, undefined);
    assert.deepEqual(
      replicaSaw.map((h) => h.traceparent),
      [traceparent, traceparent],
    );
    assert.equal(callbackSaw[0]?.traceparent, undefined);
    await tracing.flush();
    assert.deepEqual(exporter.getFinishedSpans(), []);
  });
});
