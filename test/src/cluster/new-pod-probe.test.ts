import assert from 'node:assert/strict';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/** The pod runner's readiness probe period here: a kubelet far slower than the gateway's probe. */
const KUBELET_PERIOD_MS = 6000;

describe('a new pod takes a held request the moment it answers ready, not at the kubelet’s next probe', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start({ NIMBUS_AUTOSCALER_INITIAL_SCALE: '0' }, 'probe', {
      readinessPeriodMs: KUBELET_PERIOD_MS,
    });
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
  });

  it('a request at zero (no pool) is answered by the new pod before its readiness probe passed and before its slice lists it ready', async () => {
    await cluster.createFunction('fresh', { scale: { min: 0, scaleToZeroAfter: '60s' } });
    await eventually(
      async () => ((await cluster.deployment('fresh'))?.spec?.replicas === 0 ? true : undefined),
      30_000,
      'fresh at zero',
    );
    const slice = cluster.firstReadyEndpoint('fresh');
    try {
      const sent = Date.now();
      const reply = await send(cluster.gatewayBase, `/function/fresh.${cluster.namespace}`);
      const took = Date.now() - sent;
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
      const { pid, at } = reply.json() as { pid: number; at: number };
      const pod = cluster.runner.pods().find((p) => p.pid === pid);
      assert.ok(pod !== undefined, 'served by a pod the runner runs');
      assert.equal(pod.ready, false, 'the kubelet’s probe has not passed yet');
      assert.equal(await cluster.earlyEndpoints('probe'), 1, 'the gateway’s own probe found it ready');
      const listed = await slice.at;
      assert.ok(
        at < listed,
        `the function had the request (${at}) before its slice listed it ready (${listed})`,
      );
      timings.push(
        `request → response through a new pod: ${took} ms; its slice listed it ready ${listed - sent} ms after the request`,
      );
    } finally {
      await slice.stop();
    }
  });
});
