import assert from 'node:assert/strict';
import { rawExchange, send } from '@nimbus/testkit';
import { EDGE_INVOKE_KEY, type EdgeGateway, EdgeReplica, startEdgeGateway } from './edge-replica.js';

/**
 * Item 6 of issue 11, the gateway's half: `/function/<name>/_/…` reached the runtime's internal
 * routes (health, readiness, metrics, specialise). Every spelling below goes to a key-protected
 * function through a real gateway with a valid invoke key; the runtime replica behind it (a real
 * process) must see none of them, as its own counters show. The other half, the NetworkPolicy
 * that keeps everyone but the gateway and controller away from the pods, is in
 * edge-network-policy.test.ts.
 */
const SPELLINGS = [
  '/_/health',
  '/_/ready',
  '/_/metrics',
  '/_/concurrency',
  '/_',
  '/_/',
  '/%5F/health',
  '/%5f/ready',
  '/%255F/metrics',
  '/_%2Fhealth',
  '/_%2fmetrics',
  '/%5F%2Fready',
  '//_/health',
  '///_/ready',
  '/./_/health',
  '/x/../_/health',
  '/x/%2e%2e/_/metrics',
  '/x/%2E%2E/%5F/ready',
  '/\\_/health',
  '/%5C_/health',
  '/_;x=1/health',
  '/%EF%BC%BF/health',
  '/_/health?probe=1',
];

/** One request as bytes, so no client library normalises the path first. */
async function raw(base: string, method: string, path: string, headers: Record<string, string> = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: edge', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  const body = method === 'POST' ? '{"env":{},"files":{"index.mjs":"export default () => 1"}}' : '';
  if (method === 'POST') lines.push('Content-Type: application/json', `Content-Length: ${body.length}`);
  const { text } = await rawExchange(base, `${lines.join('\r\n')}\r\n\r\n${body}`, 5_000);
  const status = Number(text.slice(9, 12));
  const json = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, text, body: json === '' ? undefined : (JSON.parse(json) as Record<string, unknown>) };
}

describe('edge: internal /_/ routes are never forwarded (issue 11, item 6)', function () {
  this.timeout(30_000);
  let replica: EdgeReplica;
  let gateway: EdgeGateway;
  const key = { Authorization: `Bearer ${EDGE_INVOKE_KEY}` };

  before(async () => {
    replica = await EdgeReplica.start('export default async (event) => ({ served: event.path });');
    gateway = await startEdgeGateway();
    gateway.route('private', [replica]);
  });

  after(async () => {
    await gateway?.close();
    await replica?.stop();
  });

  it('answers every spelling of /_/ with 404 InternalRouteNotForwarded, key or no key', async () => {
    for (const spelling of SPELLINGS) {
      for (const headers of [key, {}]) {
        for (const method of ['GET', 'POST']) {
          const reply = await raw(gateway.base, method, `/function/private${spelling}`, headers);
          assert.equal(reply.status, 404, `${method} ${spelling}: ${reply.text}`);
          assert.equal(reply.body?.code, 'InternalRouteNotForwarded', `${method} ${spelling}`);
          assert.match(String(reply.body?.error), /internal routes .* not forwarded/);
        }
      }
      const queued = await raw(gateway.base, 'POST', `/async-function/private${spelling}`, key);
      assert.deepEqual([queued.status, queued.body?.code], [404, 'InternalRouteNotForwarded'], spelling);
    }
  });

  it('leaves the replica untouched: its own counters show no internal request and no invocation', async () => {
    // The replica counts each request for a /_/ route after answering it: this scrape is not in it.
    assert.deepEqual([...(await replica.series('nimbus_runtime_system_requests_total'))], []);
    assert.deepEqual([...(await replica.series('nimbus_runtime_requests_total'))], []);
  });

  it('still serves the function, and paths that only contain /_/ further on', async () => {
    for (const path of ['/hello', '/api/_/health', '/?next=/_/health']) {
      const reply = await send(gateway.base, `/function/private${path}`, { headers: key });
      assert.equal(reply.status, 200, `${path}: ${reply.text}`);
    }
    assert.equal(await replica.metric('nimbus_runtime_requests_total', 'code="200"'), 3);
    // Only this test's own three scrapes of /_/metrics, made directly, never through the gateway.
    assert.deepEqual(
      [...(await replica.series('nimbus_runtime_system_requests_total'))],
      [['route="/_/metrics"', 3]],
    );
  });

  it('the runtime, called directly, refuses a disguised spelling instead of serving it to the handler', async () => {
    const before = await replica.metric('nimbus_runtime_requests_total', 'code="200"');
    for (const path of ['/%5F/health', '//_/ready', '/x/../_/metrics', '/_%2Fhealth']) {
      const reply = await raw(replica.base, 'GET', path);
      assert.deepEqual([reply.status, reply.body?.code], [400, 'DisguisedInternalPath'], path);
    }
    assert.equal(await replica.metric('nimbus_runtime_system_requests_total', 'route="disguised"'), 4);
    assert.equal(
      await replica.metric('nimbus_runtime_requests_total', 'code="200"'),
      before,
      'no handler call',
    );
  });
});
