import assert from 'node:assert/strict';
import { type Reply, eventually, send } from '@nimbus/testkit';
import { counterValue } from '../harness/controller.js';
import { alive } from '../harness/local-mode-process.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/** The sum of one gateway summary's observations (seconds), read from its exposition text. */
async function summarySum(cluster: ScalingCluster, name: string): Promise<number> {
  const text = await cluster.gatewayRegistry.getSingleMetricAsString(name);
  return Number(/_sum (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

describe('scaling on kube-controller-manager: from zero, out and back, to zero', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start({
      // New functions start at zero, and the windows are short enough for test time.
      NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
      NIMBUS_AUTOSCALER_STABLE_WINDOW_MS: '6000',
      NIMBUS_AUTOSCALER_PANIC_WINDOW_MS: '2000',
    });
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
  });

  let firstPid: number | undefined;

  it('a Function at min 0 runs no pod; a request wakes it: Deployment 0 → 1, a pod, a process, an EndpointSlice, the response', async () => {
    await cluster.createFunction('sleepy', {
      scale: { min: 0, max: 2, scaleToZeroAfter: '3s' },
    });
    const deployment = await eventually(
      async () => {
        const d = await cluster.deployment('sleepy');
        return d?.spec?.replicas === 0 ? d : undefined;
      },
      30_000,
      'the Deployment at zero replicas',
    );
    assert.equal(deployment.spec?.replicas, 0);
    assert.deepEqual(await cluster.pods('sleepy'), [], 'no pod at zero');

    const slice = cluster.firstReadyEndpoint('sleepy');
    try {
      const sent = Date.now();
      const reply = await send(cluster.gatewayBase, `/function/sleepy.${cluster.namespace}`);
      const received = Date.now();
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
      const body = reply.json() as { at: number; pid: number };
      firstPid = body.pid;
      const endpointReadyAt = await slice.at;
      const wakeMs = (await summarySum(cluster, 'nimbus_gateway_wake_seconds')) * 1000;
      assert.ok(wakeMs > 0 && wakeMs < 5000, `the wake was answered (${wakeMs} ms)`);
      assert.equal(
        await counterValue(cluster.controller.registry, 'nimbus_controller_wakes_total', {
          outcome: 'raised',
        }),
        1,
      );
      timings.push(
        `request → response at zero: ${received - sent} ms`,
        `wake → replicas raised: ${wakeMs.toFixed(1)} ms`,
        `endpoint ready (seen by a watch) → request at the function: ${body.at - endpointReadyAt} ms`,
      );
    } finally {
      await slice.stop();
    }
    const woken = await cluster.deployment('sleepy');
    assert.equal(woken?.spec?.replicas, 1);
    const pods = await cluster.pods('sleepy');
    assert.equal(pods.length, 1);
    assert.ok(
      cluster.runner.pods().some((p) => p.pid === firstPid),
      'the response came from the process the pod runner started for the pod',
    );
  });

  it('idle for scaleToZeroAfter: scaled to zero, the pod deleted, its process stopped; the next request wakes it again', async () => {
    assert.ok(firstPid !== undefined, 'the first test woke the function');
    const idleSince = Date.now();
    await eventually(
      async () => ((await cluster.deployment('sleepy'))?.spec?.replicas === 0 ? true : undefined),
      30_000,
      'the Deployment back at zero',
    );
    timings.push(`idle → replicas 0: ${((Date.now() - idleSince) / 1000).toFixed(1)} s`);
    await eventually(
      async () => ((await cluster.pods('sleepy')).length === 0 ? true : undefined),
      60_000,
      'the pod to go',
    );
    await eventually(() => (alive(firstPid as number) ? undefined : true), 30_000, 'the process to exit');
    await eventually(
      () => (cluster.readyEndpoints('sleepy') === 0 ? true : undefined),
      10_000,
      'no ready endpoint',
    );

    const again = await send(cluster.gatewayBase, `/function/sleepy.${cluster.namespace}`);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers['x-nimbus-cold-start'], 'true');
    assert.notEqual((again.json() as { pid: number }).pid, firstPid, 'a new process');
  });

  it('a burst of 200 concurrent requests: scaled out to max, every request answered 200, and back to min under steady traffic with none lost', async () => {
    // target 10 at utilisation 0.7: 200 in flight want ceil(200 / 7) = 29 replicas, bounded by max 4.
    await cluster.createFunction('burst', {
      concurrency: 500,
      scale: { min: 1, max: 4, target: 10 },
    });
    await eventually(
      () => (cluster.readyEndpoints('burst') === 1 ? true : undefined),
      60_000,
      'one ready replica',
    );

    const replicas = cluster.watchReplicas('burst');
    const started = Date.now();
    const burst = await Promise.all(
      Array.from({ length: 200 }, () =>
        send(cluster.gatewayBase, `/function/burst.${cluster.namespace}?ms=2500`),
      ),
    );
    const failed = burst.filter((r: Reply) => r.status !== 200);
    assert.deepEqual(
      failed.map((r) => [r.status, r.text]),
      [],
      'every request of the burst answered 200',
    );
    await eventually(
      () => (cluster.readyEndpoints('burst') === 4 ? true : undefined),
      60_000,
      'four ready replicas',
    );
    timings.push(`burst → 4 ready replicas: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await replicas.stop();
    assert.equal(replicas.highest(), 4, 'the Deployment asked for max (4) replicas, never more');

    // Steady light traffic while the panic ends and the replicas go back down to min.
    const during: Reply[] = [];
    let calm = true;
    const trickle = (async () => {
      while (calm) during.push(await send(cluster.gatewayBase, `/function/burst.${cluster.namespace}?ms=50`));
    })();
    try {
      await eventually(
        async () => ((await cluster.deployment('burst'))?.spec?.replicas === 1 ? true : undefined),
        90_000,
        'the Deployment back at min (1)',
      );
      await eventually(
        () => (cluster.readyEndpoints('burst') === 1 ? true : undefined),
        60_000,
        'one ready replica again',
      );
    } finally {
      calm = false;
      await trickle;
    }
    timings.push(
      `burst → back at 1 replica: ${((Date.now() - started) / 1000).toFixed(1)} s, ${during.length} requests meanwhile`,
    );
    assert.ok(during.length > 10, `traffic ran during the scale-down (${during.length} requests)`);
    assert.deepEqual(
      during.filter((r) => r.status !== 200).map((r) => [r.status, r.text]),
      [],
      'no request failed while replicas went away',
    );
  });
});
