import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createLogger } from '@nimbus/api';
import { startTracing } from '@nimbus/telemetry';
import { send } from '@nimbus/testkit';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { wantsOpenMetrics } from '../src/metrics/exposition.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { echoRequest, upstream } from './replicas.js';

const ADMIN = 'admin-key-0123456789';
const SAMPLED_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const UNSAMPLED_TRACE = '5bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
/** What Prometheus sends when it negotiates (its default scrape protocols). */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const EXEMPLAR =
  /^nimbus_gateway_request_duration_seconds_bucket\{[^}]*function="default\/echo"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})"\} [\d.e-]+ [\d.]+$/gm;

describe('gateway /metrics: OpenMetrics with trace exemplars when asked, classic text otherwise', function () {
  this.timeout(20_000);
  let gateway: Gateway;
  let base: string;
  let metricsBase: string;
  let replica: { server: Server; port: number };

  const start = async (traced: boolean) => {
    const routes = new RouteTable();
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_METRICS_PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN}`,
    });
    const tracing = startTracing(
      { endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-gateway' },
      new InMemorySpanExporter(),
    );
    gateway = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error'),
      ...(traced ? { tracing } : {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    metricsBase = `http://127.0.0.1:${gateway.metricsAddress?.port}`;
    replica = await upstream(echoRequest);
    routes.upsert({ name: 'echo', namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
    routes.setEndpoints('default', 'echo', [{ id: 'echo-0', host: '127.0.0.1', port: replica.port }]);
  };

  const call = async (trace: string, flags: '00' | '01') => {
    const reply = await send(base, '/function/echo', {
      headers: { traceparent: `00-${trace}-${CALLER_SPAN}-${flags}` },
    });
    assert.equal(reply.status, 200);
  };

  const scrape = async (accept?: string) => {
    const reply = await send(metricsBase, '/metrics', accept === undefined ? {} : { headers: { accept } });
    assert.equal(reply.status, 200);
    return { type: String(reply.headers['content-type']), body: reply.text };
  };

  afterEach(async () => {
    await gateway.close();
    replica.server.closeAllConnections();
    await new Promise((r) => replica.server.close(r));
  });

  it('puts a sampled call’s trace id on its duration bucket, in OpenMetrics only', async () => {
    await start(true);
    await call(SAMPLED_TRACE, '01');
    const open = await scrape(PROMETHEUS_ACCEPT);
    assert.match(open.type, /^application\/openmetrics-text; version=1\.0\.0/);
    assert.deepEqual(
      [...open.body.matchAll(EXEMPLAR)].map((m) => m[1]),
      [SAMPLED_TRACE],
    );
    assert.ok(open.body.endsWith('# EOF\n'));
    // OpenMetrics names a counter's family without _total, and its samples with it.
    assert.match(open.body, /^# TYPE nimbus_gateway_requests counter$/m);
    assert.match(open.body, /^nimbus_gateway_requests_total\{function="default\/echo",code="200"\} 1$/m);
    const classic = await scrape();
    assert.match(classic.type, /^text\/plain; version=0\.0\.4/);
    assert.doesNotMatch(classic.body, / # \{/, 'no exemplars in the classic text');
    assert.doesNotMatch(classic.body, /# EOF/);
    // An OpenMetrics scrape before it must not have renamed the shared counters.
    assert.match(classic.body, /^# TYPE nimbus_gateway_requests_total counter$/m);
    assert.match(classic.body, /^nimbus_gateway_requests_total\{function="default\/echo",code="200"\} 1$/m);
  });

  it('keeps a caller’s trace id off the metrics when the call is not sampled, or tracing is off', async () => {
    await start(true);
    await call(UNSAMPLED_TRACE, '00');
    assert.doesNotMatch((await scrape(PROMETHEUS_ACCEPT)).body, / # \{/);
    await gateway.close();
    replica.server.closeAllConnections();
    replica.server.close();
    await start(false);
    // A caller claiming a sampled trace cannot plant its id in the gateway's metrics.
    await call(SAMPLED_TRACE, '01');
    const body = (await scrape(PROMETHEUS_ACCEPT)).body;
    assert.match(body, /nimbus_gateway_requests_total\{function="default\/echo",code="200"\} 1/);
    assert.doesNotMatch(body, / # \{/);
  });

  it('still asks for an admin key on the public port, whatever the format', async () => {
    await start(true);
    const refused = await send(base, '/metrics', { headers: { accept: PROMETHEUS_ACCEPT } });
    assert.equal(refused.status, 401);
    assert.doesNotMatch(refused.text, /nimbus_/);
    const served = await send(base, '/metrics', {
      headers: { accept: PROMETHEUS_ACCEPT, authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(served.status, 200);
    assert.match(String(served.headers['content-type']), /^application\/openmetrics-text/);
  });
});

describe('wantsOpenMetrics', () => {
  it('reads the Accept header as Prometheus and other clients send it', () => {
    assert.equal(wantsOpenMetrics(PROMETHEUS_ACCEPT), true);
    assert.equal(wantsOpenMetrics('application/openmetrics-text'), true);
    assert.equal(wantsOpenMetrics(undefined), false);
    assert.equal(wantsOpenMetrics('*/*'), false);
    assert.equal(wantsOpenMetrics('text/plain;version=0.0.4'), false);
    assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0, text/plain'), false, 'q=0 refuses it');
  });
});
