import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createLogger } from '@nimbus/api';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { eventually, send } from '@nimbus/testkit';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { echoRequest, upstream } from './replicas.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

interface Echoed {
  headers: Record<string, string>;
}

describe('gateway invoke path: spans and trace context (real sockets)', function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let gateway: Gateway;
  let base: string;
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let replica: { server: Server; port: number };

  const start = async (traced: boolean) => {
    routes = new RouteTable();
    exporter = new InMemorySpanExporter();
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0', NIMBUS_WAKE_TIMEOUT_MS: '5000' });
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-gateway' }, exporter);
    const container = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error'),
      ...(traced ? { tracing } : {}),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    replica = await upstream(echoRequest);
  };
  const route = (name: string, ready: boolean) => {
    routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
    if (ready)
      routes.setEndpoints(
        'default',
        name,
        [{ id: `${name}-0`, host: '127.0.0.1', port: replica.port }],
        'starting',
      );
  };
  /** The spans ended so far, once `count` have. */
  const spans = async (count: number): Promise<ReadableSpan[]> => {
    await eventually(
      async () => {
        await tracing.flush();
        return exporter.getFinishedSpans().length >= count ? true : undefined;
      },
      5000,
      `${count} spans`,
    );
    return exporter.getFinishedSpans();
  };

  afterEach(async () => {
    await gateway.close();
    replica.server.closeAllConnections();
    await new Promise((r) => replica.server.close(r));
  });

  it('continues the caller’s trace and hands the replica the gateway’s span as its parent', async () => {
    await start(true);
    route('echo', true);
    const reply = await send(base, '/function/echo', {
      headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`, tracestate: 'team=a' },
    });
    assert.equal(reply.status, 200);
    const ended = await spans(2);
    const span = ended.find((s) => s.name === 'invoke default/echo');
    const forward = ended.find((s) => s.name === 'forward');
    assert.ok(span !== undefined && forward !== undefined, ended.map((s) => s.name).join(', '));
    assert.equal(forward.parentSpanContext?.spanId, span.spanContext().spanId);
    assert.equal(forward.kind, SpanKind.CLIENT);
    assert.equal(forward.attributes['server.address'], `http://127.0.0.1:${replica.port}`);
    assert.equal(forward.attributes['http.response.status_code'], 200);
    assert.equal(span.spanContext().traceId, CALLER_TRACE);
    assert.equal(span.parentSpanContext?.spanId, CALLER_SPAN);
    assert.equal(span.attributes['nimbus.function'], 'default/echo');
    assert.equal(span.attributes['http.response.status_code'], 200);
    const seen = (reply.json() as Echoed).headers;
    assert.equal(span.attributes['nimbus.call_id'], seen['x-call-id']);
    const [, trace, parent] = TRACEPARENT.exec(seen.traceparent ?? '') ?? [];
    assert.equal(trace, CALLER_TRACE, 'the replica is in the caller’s trace');
    assert.equal(parent, forward.spanContext().spanId, 'under the gateway’s forward span, not the caller’s');
    assert.equal(seen.tracestate, 'team=a');
    assert.equal(seen['x-nimbus-trace'], '1', 'the replica is asked for its spans');
  });

  it('starts a trace for a caller that sends none, or a malformed one (whose tracestate is dropped)', async () => {
    await start(true);
    route('echo', true);
    for (const headers of [{}, { traceparent: `00-${CALLER_TRACE}-not-a-span-01`, tracestate: 'forged=1' }]) {
      exporter.reset();
      const seen = ((await send(base, '/function/echo', { headers })).json() as Echoed).headers;
      const ended = await spans(2);
      const span = ended.find((s) => s.name === 'invoke default/echo');
      const forward = ended.find((s) => s.name === 'forward');
      assert.equal(span?.parentSpanContext, undefined);
      assert.equal(forward?.parentSpanContext?.spanId, span?.spanContext().spanId);
      const [, trace, parent] = TRACEPARENT.exec(seen.traceparent ?? '') ?? [];
      assert.equal(trace, span?.spanContext().traceId);
      assert.notEqual(trace, CALLER_TRACE);
      assert.equal(parent, forward?.spanContext().spanId);
      assert.equal(seen.tracestate, undefined);
    }
  });

  it('a request held while the function wakes: a hold span under the call’s, and the call marked a cold start', async () => {
    await start(true);
    route('sleepy', false);
    const reply = send(base, '/function/sleepy');
    await eventually(
      () => (routes.get('default', 'sleepy')?.held.size === 1 ? true : undefined),
      5000,
      'held',
    );
    routes.setEndpoints(
      'default',
      'sleepy',
      [{ id: 'sleepy-0', host: '127.0.0.1', port: replica.port }],
      'starting',
    );
    assert.equal((await reply).status, 200);
    const ended = await spans(2);
    const call = ended.find((s) => s.name === 'invoke default/sleepy');
    const hold = ended.find((s) => s.name === 'hold');
    assert.ok(call !== undefined && hold !== undefined, ended.map((s) => s.name).join(', '));
    assert.equal(hold.parentSpanContext?.spanId, call.spanContext().spanId);
    assert.equal(hold.spanContext().traceId, call.spanContext().traceId);
    assert.equal(call.attributes['nimbus.cold_start'], true);
    assert.equal(hold.status.code, SpanStatusCode.UNSET);
  });

  it('a refused call is traced with its status: an unknown function, 404', async () => {
    await start(true);
    const reply = await send(base, '/function/nobody', {
      headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
    });
    assert.equal(reply.status, 404);
    const [span] = await spans(1);
    assert.equal(span?.name, 'invoke');
    assert.equal(span?.attributes['http.response.status_code'], 404);
    assert.equal(span?.spanContext().traceId, CALLER_TRACE);
  });

  it('tracing off: no span, and the caller’s traceparent reaches the replica as it came', async () => {
    await start(false);
    route('echo', true);
    const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const reply = await send(base, '/function/echo', { headers: { traceparent, 'x-nimbus-trace': '1' } });
    const seen = (reply.json() as Echoed).headers;
    assert.equal(seen.traceparent, traceparent);
    assert.equal(seen['x-nimbus-trace'], undefined, 'a caller cannot ask the replica for spans');
    await tracing.flush();
    assert.equal(exporter.getFinishedSpans().length, 0);
  });
});
