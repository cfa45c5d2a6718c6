import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import { eventually, send } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { type RunningController, startController } from '../harness/controller.js';

const TOKEN = 'report-token-for-the-test-suite';

/**
 * Two gateways report to one controller: the controller sums what each holds and has in flight
 * per function, and a gateway that goes silent ages out of the sum.
 */
describe('concurrency reports from two gateways to the controller', function () {
  this.timeout(60_000);
  let plane: ControlPlane;
  let namespace: string;
  let controller: RunningController;
  const gateways: ClusterGateway[] = [];

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'reports');
    controller = await startController(plane, namespace, { NIMBUS_REPORT_TOKEN: TOKEN });
  });

  after(async () => {
    for (const g of gateways) await g.stop(100).catch(() => {});
    await controller?.stop();
  });

  async function gateway(name: string): Promise<string> {
    const config = loadClusterConfig({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: namespace,
      HOST: '127.0.0.1',
      PORT: '0',
      POD_NAME: name,
      NIMBUS_CONTROLLER_URLS: controller.base,
      NIMBUS_REPORT_TOKEN: TOKEN,
      NIMBUS_REPORT_INTERVAL_MS: '100',
      // Requests stay held for the whole test: no replica ever becomes ready here.
      NIMBUS_WAKE_TIMEOUT_MS: '60000',
    });
    const g = createClusterGateway(config, { logger: createLogger({}, 'error', () => {}) });
    gateways.push(g);
    const { port } = await g.server.listen();
    g.start();
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      async () => ((await send(base, '/readyz')).status === 200 ? true : undefined),
      15_000,
      `${name} ready`,
    );
    return base;
  }

  const concurrency = async () =>
    (await send(controller.base, '/v1/concurrency', { headers: { authorization: `Bearer ${TOKEN}` } })).json<{
      reporters: string[];
      functions: Record<string, number>;
    }>();

  it('sums the requests both gateways hold, and drops a gateway that stopped reporting', async () => {
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'waiting' },
        spec: { source: { inline: 'export default () => 1' } },
      },
    );
    assert.equal(created.status, 201);
    const a = await gateway('gw-a');
    const b = await gateway('gw-b');
    const key = `${namespace}/waiting`;
    // Held, since no EndpointSlice lists a replica: 2 at gateway a, 3 at gateway b.
    const held = [
      ...Array.from({ length: 2 }, () => send(a, `/function/waiting.${namespace}`).catch(() => undefined)),
      ...Array.from({ length: 3 }, () => send(b, `/function/waiting.${namespace}`).catch(() => undefined)),
    ];
    const both = await eventually(
      async () => {
        const seen = await concurrency();
        return seen.functions[key] === 5 ? seen : undefined;
      },
      10_000,
      'the controller to see 5 held across both gateways',
    );
    assert.deepEqual(both.reporters, ['gw-a', 'gw-b']);

    // Gateway b goes away without a word: after the TTL only a's 2 count.
    const gwB = gateways[1] as ClusterGateway;
    await gwB.stop(100);
    const one = await eventually(
      async () => {
        const seen = await concurrency();
        return seen.functions[key] === 2 ? seen : undefined;
      },
      10_000,
      'gateway b to age out',
    );
    assert.deepEqual(one.reporters, ['gw-a']);
    // The held requests end when the gateways stop (after the test).
    void held;
  });

  it('refuses a report without the token, and a malformed one naming the field', async () => {
    const body = JSON.stringify({ reporter: 'intruder', functions: { 'x/y': { inflight: 1000, held: 0 } } });
    const anonymous = await send(controller.base, '/v1/reports', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(anonymous.status, 401);
    const bad = await send(controller.base, '/v1/reports', {
      method: 'POST',
      body: JSON.stringify({ reporter: 'gw-x', functions: { 'x/y': { inflight: -3, held: 0 } } }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().field, 'functions["x/y"].inflight');
    assert.equal((await concurrency()).functions['x/y'], undefined, 'nothing refused was kept');
  });
});
