import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { EVENTS_STREAM, type JetStreamBus, triggerConsumerName } from '@nimbus/bus';
import { type Gateway, RouteTable, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { admin, callReaches } from '../harness/async-calls.js';
import { ADMIN_KEY } from '../harness/local-mode-process.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats, untilCallsQueueReady } from '../harness/nats.js';
import { type RuntimeReplica, startRuntimeReplica } from '../harness/runtime-replica.js';
import { type StoredSpan, TracingBackend } from '../harness/tracing-backend.js';

const CALLER_TRACE = '5af7651916cd43dd8448eb211c80319c';
const PUBLISHER_TRACE = '6af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
/** OTLP's span kinds as the backend stores them. */
const KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

function fn(name: string, spec: Record<string, unknown>): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'default' },
    spec: { source: { inline: 'export default () => 1' }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** Fails a call's first attempt (call id flaky-1) and answers every other request. */
const FLAKY_ONCE = `const seen = new Map();
export default async (event, ctx) => {
  const n = (seen.get(ctx.invocationId) ?? 0) + 1;
  seen.set(ctx.invocationId, n);
  return ctx.invocationId === 'flaky-1' && n === 1 ? { statusCode: 500, body: 'first attempt fails' } : { ok: true };
};`;

const FUNCTIONS = [
  fn('flaky', { async: { maxAttempts: 3, retryOn: [500], backoff: { initial: '100ms', max: '100ms' } } }),
  fn('listener', { triggers: [{ nats: { subject: 'shop.orders', maxDeliver: 3, backoff: ['100ms'] } }] }),
];

/**
 * The spans of an async call and of a trigger's event as a tracing backend stores them, across
 * a real NATS JetStream (the call's message and the event), with the call records in a real
 * Redis: the gateway exports over OTLP/HTTP to Jaeger, started by the harness. The functions run
 * in a real runtime-node replica, which hands its `handler` span back with each answer for the
 * gateway to record under the attempt (service nimbus-function); it answers 500 to a call's first
 * attempt and 200 after. The callback's receiver is a plain HTTP server that continues the
 * `traceparent` it gets with a `handler` span of its own, exported under another service name.
 */
describe('async and trigger traces in a real tracing backend (Jaeger, NATS JetStream, Redis)', function () {
  this.timeout(60_000);
  let backend: TracingBackend;
  let nats: SecuredNats;
  let redis: RedisServer;
  let replica: Server;
  let runtime: RuntimeReplica;
  let replicaTracing: Tracing;
  let gateway: Gateway;
  let gatewayTracing: Tracing;
  let base: string;
  let events: JetStreamBus;

  before(async () => {
    [backend, nats, redis] = await Promise.all([
      TracingBackend.start(),
      startSecuredNats(),
      startRedisServer(),
    ]);
    const tracingConfig = { endpoint: backend.otlpTracesUrl, sampleRatio: 1 };
    replicaTracing = startTracing({ ...tracingConfig, serviceName: 'test-replica' });
    // The callback's receiver: continues the callback's trace with a span of its own.
    replica = createServer((req, res) => {
      const span = replicaTracing.tracer?.startSpan('handler', {}, replicaTracing.extract(req.headers));
      req.resume();
      req.on('end', () => {
        span?.end();
        res.end();
      });
    });
    await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
    runtime = await startRuntimeReplica({
      host: '127.0.0.1',
      code: FLAKY_ONCE,
      name: 'flaky',
      namespace: 'default',
    });

    const routes = new RouteTable();
    for (const name of ['flaky', 'listener']) {
      routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
      routes.setEndpoints(
        'default',
        name,
        [{ id: `${name}-0`, host: '127.0.0.1', port: runtime.port }],
        'starting',
      );
    }
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_TRACING_ENDPOINT: backend.otlpTracesUrl,
      // The callback receiver is the replica, on loopback.
      NIMBUS_EGRESS_ALLOW: 'loopback',
      ...nats.env('local'),
    });
    // The gateway's own tracing, as the container would make it, kept here to flush it.
    gatewayTracing = startTracing(config.tracing);
    gateway = createGatewayContainer(config, {
      routes,
      directory: {
        list: () => FUNCTIONS,
        get: (_ns, name) => FUNCTIONS.find((f) => f.metadata.name === name),
      },
      logger: createLogger({}, 'error', () => {}),
      // Local mode: the gateway makes the events stream and the trigger's durable itself.
      info: { version: '0.1.0', mode: 'local' },
      tracing: gatewayTracing,
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    await untilCallsQueueReady(nats);
    events = await nats.connect(TEST_ADMIN);
    await eventually(
      async () =>
        (await events.consumerInfo(
          EVENTS_STREAM,
          triggerConsumerName('default', 'listener', 'shop.orders'),
        )) ?? undefined,
      20_000,
      'the trigger’s durable',
    );
  });

  after(async () => {
    await gateway?.close();
    await runtime?.stop();
    await replicaTracing?.shutdown();
    replica?.closeAllConnections();
    await new Promise((resolve) => replica?.close(resolve));
    await events?.close();
    await Promise.all([nats?.stop(), redis?.stop(), backend?.stop()]);
  });

  /** The spans of one trace, once every one of `names` is stored (a name twice: two of them). */
  const stored = (traceId: string, names: string[]): Promise<StoredSpan[]> =>
    eventually(
      async () => {
        await Promise.all([gatewayTracing.flush(), replicaTracing.flush()]);
        const spans = await backend.trace(traceId);
        const missing = [...names];
        for (const s of spans) {
          const i = missing.indexOf(s.name);
          if (i >= 0) missing.splice(i, 1);
        }
        return missing.length === 0 ? spans : undefined;
      },
      20_000,
      `spans ${names.join(', ')} of trace ${traceId} in Jaeger`,
    );
  const one = (spans: StoredSpan[], name: string): StoredSpan => {
    const found = spans.filter((s) => s.name === name);
    assert.equal(found.length, 1, `one ${name}: ${spans.map((s) => s.name).join(', ')}`);
    return found[0] as StoredSpan;
  };

  it('an async call whose first attempt fails: one trace, the enqueue, both attempts, each replica’s span under its own', async () => {
    const reply = await send(base, '/async-function/flaky', {
      method: 'POST',
      headers: {
        traceparent: `00-${CALLER_TRACE}-${PARENT_SPAN}-01`,
        'x-call-id': 'flaky-1',
        'x-callback-url': `http://127.0.0.1:${(replica.address() as AddressInfo).port}/hook`,
      },
      body: '{}',
    });
    assert.equal(reply.status, 202, reply.text);
    const record = await callReaches(base, 'flaky-1', 'succeeded');
    assert.equal(record.attempts, 2);
    const shown = await send(base, '/system/calls/flaky-1', { headers: admin });
    assert.equal(shown.json<{ traceId?: string }>().traceId, CALLER_TRACE, 'the record links to the trace');

    const spans = await stored(CALLER_TRACE, [
      'enqueue default/flaky',
      'queue wait',
      'attempt default/flaky',
      'attempt default/flaky',
      'callback',
      'handler',
      'handler',
      'handler',
    ]);
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace across the JetStream hop');
    const enqueue = one(spans, 'enqueue default/flaky');
    assert.equal(enqueue.service, 'nimbus-gateway');
    assert.equal(enqueue.kind, KIND.producer);
    assert.equal(enqueue.parentSpanId, PARENT_SPAN);
    assert.equal(enqueue.attributes['nimbus.call_id'], 'flaky-1');
    assert.equal(enqueue.attributes['messaging.destination.name'], 'nimbus.calls.default.flaky');
    assert.equal(enqueue.attributes['http.response.status_code'], 202);

    const wait = one(spans, 'queue wait');
    assert.equal(wait.parentSpanId, enqueue.spanId);
    assert.ok(wait.startUnixNano >= enqueue.startUnixNano, 'the wait starts once the call is accepted');

    const attempts = spans
      .filter((s) => s.name === 'attempt default/flaky')
      .sort((a, b) => Number(a.attributes['nimbus.attempt']) - Number(b.attributes['nimbus.attempt']));
    assert.deepEqual(
      attempts.map((s) => ({
        parent: s.parentSpanId,
        kind: s.kind,
        attempt: s.attributes['nimbus.attempt'],
        status: s.attributes['http.response.status_code'],
        retried: s.attributes['nimbus.retried'],
        error: s.status.code,
      })),
      [
        { parent: enqueue.spanId, kind: KIND.consumer, attempt: 1, status: 500, retried: true, error: 2 },
        { parent: enqueue.spanId, kind: KIND.consumer, attempt: 2, status: 200, retried: false, error: 0 },
      ],
    );
    // The backoff is 100 ms jittered down by up to half: at least 50 ms between the attempts.
    const first = attempts[0] as StoredSpan;
    const gapMs = Number((attempts[1]?.startUnixNano ?? 0n) - first.startUnixNano) / 1e6 - first.durationMs;
    assert.ok(
      gapMs >= 45,
      `the second attempt came after the retry’s backoff, not ${gapMs} ms after the first`,
    );
    const handlers = spans.filter((s) => s.name === 'handler');
    const underAttempt = (i: number) => handlers.filter((h) => h.parentSpanId === attempts[i]?.spanId);
    const described = (h: StoredSpan) => [
      h.service,
      h.attributes['nimbus.function'],
      h.attributes['http.response.status_code'],
    ];
    assert.deepEqual(underAttempt(0).map(described), [['nimbus-function', 'default/flaky', 500]]);
    assert.deepEqual(underAttempt(1).map(described), [['nimbus-function', 'default/flaky', 200]]);

    const callback = one(spans, 'callback');
    assert.equal(callback.parentSpanId, enqueue.spanId);
    assert.equal(callback.kind, KIND.client);
    assert.equal(callback.attributes['http.response.status_code'], 200);
    assert.equal(callback.attributes['nimbus.call_status'], 'succeeded');
    assert.ok(
      handlers.some((h) => h.parentSpanId === callback.spanId),
      'the receiver got the callback’s span as its parent',
    );
  });

  it('a trigger’s event continues its publisher’s trace: the delivery span, and the replica’s under it', async () => {
    await events.publish('shop.orders', new TextEncoder().encode('{"order":1}'), {
      msgId: 'order-1',
      headers: { traceparent: `00-${PUBLISHER_TRACE}-${PARENT_SPAN}-01` },
    });
    const spans = await stored(PUBLISHER_TRACE, ['trigger default/listener', 'handler']);
    const delivery = one(spans, 'trigger default/listener');
    assert.equal(delivery.service, 'nimbus-gateway');
    assert.equal(delivery.kind, KIND.consumer);
    assert.equal(delivery.parentSpanId, PARENT_SPAN);
    assert.deepEqual(
      {
        trigger: delivery.attributes['nimbus.trigger'],
        subject: delivery.attributes['messaging.destination.name'],
        attempt: delivery.attributes['nimbus.attempt'],
        status: delivery.attributes['http.response.status_code'],
        retried: delivery.attributes['nimbus.retried'],
      },
      {
        trigger: triggerConsumerName('default', 'listener', 'shop.orders'),
        subject: 'shop.orders',
        attempt: 1,
        status: 200,
        retried: false,
      },
    );
    assert.equal(one(spans, 'handler').parentSpanId, delivery.spanId);
  });
});
