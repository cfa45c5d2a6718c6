import assert from 'node:assert/strict';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/**
 * kube-controller-manager holds every pod change this long before its EndpointSlices show it, so
 * the slice path cannot win the race the wake's answer runs.
 */
const SLICE_DELAY_MS = 3000;

describe('the wake answer names the pool pod: a held request goes there before any EndpointSlice lists it', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '1' },
      'wake-endpoint',
      { controllerManagerArgs: [`--endpointslice-updates-batch-period=${SLICE_DELAY_MS / 1000}s`] },
    );
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
  });

  it('a request at zero is answered by the pool pod’s process, named by the wake answer, before the slice lists the pod', async () => {
    await cluster.createFunction('pooled', { scale: { min: 0, scaleToZeroAfter: '60s' } });
    await eventually(
      async () => ((await cluster.deployment('pooled'))?.spec?.replicas === 0 ? true : undefined),
      30_000,
      'pooled at zero',
    );
    const [member] = await eventually(
      async () => {
        const ready = await cluster.readyPoolPods();
        return ready.length === 1 ? ready : undefined;
      },
      60_000,
      'one ready pool pod',
    );
    const memberPid = cluster.runner.pods().find((p) => p.name === member?.metadata.name)?.pid;
    assert.ok(memberPid !== undefined, 'the pod runner runs the pool pod');
    const slice = cluster.firstReadyEndpoint('pooled');
    try {
      const sent = Date.now();
      const reply = await send(cluster.gatewayBase, `/function/pooled.${cluster.namespace}`);
      const took = Date.now() - sent;
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
      const { pid, at } = reply.json() as { pid: number; at: number };
      assert.equal(pid, memberPid, 'served by the process of the pool pod');
      assert.equal(await cluster.earlyEndpoints('wake'), 1, 'the gateway took the pod from the wake answer');
      const listed = await slice.at;
      assert.ok(
        at < listed,
        `the function had the request (${at}) before its slice listed the pod (${listed})`,
      );
      timings.push(
        `request → response through the pool pod: ${took} ms; its slice listed it ${listed - sent} ms after the request`,
      );
    } finally {
      await slice.stop();
    }
  });
});
