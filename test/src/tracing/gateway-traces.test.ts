import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { type Gateway, RouteTable, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { eventually, send } from '@nimbus/testkit';
import { type StoredSpan, TracingBackend } from '../harness/tracing-backend.js';

const CALLER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/**
 * The gateway's spans as a tracing backend receives them: the real OTLP/HTTP exporter, loaded on
 * the first batch, posting to Jaeger (built and started by the harness), read back through
 * Jaeger's query API. The replica is a plain HTTP server that says which traceparent it got.
 */
describe('gateway traces in a real tracing backend (Jaeger, OTLP/HTTP)', function () {
  this.timeout(60_000);
  let backend: TracingBackend;
  let replica: Server;
  let replicaPort: number;

  before(async () => {
    backend = await TracingBackend.start();
    replica = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ traceparent: req.headers.traceparent ?? null }));
    });
    await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
    replicaPort = (replica.address() as AddressInfo).port;
  });

  after(async () => {
    replica.closeAllConnections();
    await new Promise((resolve) => replica.close(resolve));
    await backend.stop();
  });

  /** A gateway sending its spans to the backend; closing it sends what it still holds. */
  async function tracedGateway(env: Record<string, string> = {}) {
    const routes = new RouteTable();
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_TRACING_ENDPOINT: backend.otlpTracesUrl,
      ...env,
    });
    const gateway = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error', () => {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    const base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    const ready = (name: string) =>
      routes.setEndpoints(
        'default',
        name,
        [{ id: `${name}-0`, host: '127.0.0.1', port: replicaPort }],
        'starting',
      );
    const route = (name: string, withReplica: boolean) => {
      routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
      if (withReplica) ready(name);
    };
    return { gateway, base, routes, route, ready };
  }

  /** The spans of one trace, once `count` of them are stored. */
  const stored = (traceId: string, count: number): Promise<StoredSpan[]> =>
    eventually(
      async () => {
        const spans = await backend.trace(traceId);
        return spans.length >= count ? spans : undefined;
      },
      20_000,
      `${count} spans of trace ${traceId} in Jaeger`,
    );

  it('stores the call’s server span in the caller’s trace, as the parent of the replica’s', async () => {
    const { gateway, base, route } = await tracedGateway();
    route('echo', true);
    let seen: string;
    try {
      const reply = await send(base, '/function/echo', {
        headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
      });
      assert.equal(reply.status, 200);
      seen = (reply.json() as { traceparent: string }).traceparent;
    } finally {
      await gateway.close();
    }
    const spans = await stored(CALLER_TRACE, 2);
    assert.equal(spans.length, 2, spans.map((s) => s.name).join(', '));
    const span = spans.find((s) => s.name.startsWith('invoke'));
    const forward = spans.find((s) => s.name === 'forward');
    assert.ok(span !== undefined && forward !== undefined);
    assert.equal(forward.parentSpanId, span.spanId);
    assert.equal(forward.kind, 3, 'a client span');
    assert.equal(span.service, 'nimbus-gateway');
    assert.equal(span.name, 'invoke default/echo');
    assert.equal(span.kind, 2, 'a server span');
    assert.equal(span.parentSpanId, CALLER_SPAN);
    assert.equal(span.attributes['nimbus.function'], 'default/echo');
    assert.equal(span.attributes['http.response.status_code'], 200);
    assert.equal(
      TRACEPARENT.exec(seen)?.[2],
      forward.spanId,
      'the replica’s parent is the gateway’s forward span',
    );
  });

  it('stores a cold start as a hold span under the call’s', async () => {
    const { gateway, base, routes, route, ready } = await tracedGateway();
    route('sleepy', false);
    const trace = '1af7651916cd43dd8448eb211c80319c';
    try {
      const reply = send(base, '/function/sleepy', {
        headers: { traceparent: `00-${trace}-${CALLER_SPAN}-01` },
      });
      await eventually(
        () => (routes.get('default', 'sleepy')?.held.size === 1 ? true : undefined),
        5000,
        'held',
      );
      ready('sleepy');
      assert.equal((await reply).status, 200);
    } finally {
      await gateway.close();
    }
    const spans = await stored(trace, 2);
    const call = spans.find((s) => s.name === 'invoke default/sleepy');
    const hold = spans.find((s) => s.name === 'hold');
    assert.ok(call !== undefined && hold !== undefined, spans.map((s) => s.name).join(', '));
    assert.equal(hold.parentSpanId, call.spanId);
    assert.equal(call.attributes['nimbus.cold_start'], true);
  });

  it('samples by the ratio only traces it starts: at 0, a caller’s sampled trace is stored and a new one is not', async () => {
    const { gateway, base, route } = await tracedGateway({ NIMBUS_TRACING_SAMPLE_RATIO: '0' });
    route('echo', true);
    let unsampled: RegExpExecArray | null;
    const trace = '2af7651916cd43dd8448eb211c80319c';
    try {
      const first = await send(base, '/function/echo');
      unsampled = TRACEPARENT.exec((first.json() as { traceparent: string }).traceparent);
      await send(base, '/function/echo', { headers: { traceparent: `00-${trace}-${CALLER_SPAN}-01` } });
    } finally {
      await gateway.close();
    }
    assert.equal(unsampled?.[3], '00', 'the replica is told the new trace is not sampled');
    // Closing sent every span the gateway held: the sampled call's two are there, so the other's would be too.
    assert.deepEqual((await stored(trace, 2)).map((s) => s.name).sort(), ['forward', 'invoke default/echo']);
    assert.deepEqual(await backend.trace(unsampled?.[1] ?? ''), []);
  });
});
