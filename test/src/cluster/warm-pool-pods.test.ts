import assert from 'node:assert/strict';
import type { KubeObject } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { alive } from '../harness/local-mode-process.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';

interface PodView extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

describe('the warm pool as pods: a function at zero is served by a pool pod that takes it on', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '1' },
      'pool',
    );
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
  });

  const poolPods = async () => {
    const reply = await cluster.plane.request<{ items: PodView[] }>(
      'GET',
      `/api/v1/namespaces/${cluster.namespace}/pods?labelSelector=${encodeURIComponent('nimbus.dev/pool=node20')}`,
    );
    return reply.body.items.filter(
      (p) =>
        p.metadata.deletionTimestamp === undefined &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  };
  const pidOf = (podName: string | undefined) => cluster.runner.pods().find((p) => p.name === podName)?.pid;
  let poolPid: number | undefined;

  it('a namespace with a function at zero gets a pool pod; the first request is served by it, and the pool refills', async () => {
    await cluster.createFunction('pooled', { scale: { min: 0, scaleToZeroAfter: '30s' } });
    const [member] = await eventually(
      async () => {
        const ready = await poolPods();
        return ready.length === 1 ? ready : undefined;
      },
      60_000,
      'one ready pool pod',
    );
    const memberPid = pidOf(member?.metadata.name);
    assert.ok(memberPid !== undefined, 'the pod runner runs the pool pod');
    poolPid = memberPid;
    assert.equal((await cluster.deployment('pooled'))?.spec?.replicas, 0, 'the function is at zero');

    const sent = Date.now();
    const reply = await send(cluster.gatewayBase, `/function/pooled.${cluster.namespace}?name=pool`);
    const took = Date.now() - sent;
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.equal((reply.json() as { pid: number }).pid, memberPid, 'served by the process of the pool pod');
    timings.push(`request → response at zero, through a pool pod: ${took} ms`);

    const adopted = await cluster.plane.request<KubeObject>(
      'GET',
      `/api/v1/namespaces/${cluster.namespace}/pods/${member?.metadata.name}`,
    );
    const labels = adopted.body.metadata.labels ?? {};
    // Already handed back by the time we look is fine too: then it is being deleted.
    if (adopted.status === 200 && adopted.body.metadata.deletionTimestamp === undefined) {
      assert.equal(labels['nimbus.dev/function'], 'pooled');
      assert.equal(labels['nimbus.dev/pool'], undefined);
      assert.equal(adopted.body.metadata.ownerReferences?.[0]?.kind, 'Function');
    }

    const refilled = await eventually(
      async () => (await poolPods()).find((p) => p.metadata.name !== member?.metadata.name),
      60_000,
      'a new pool pod',
    );
    assert.notEqual(refilled.metadata.name, member?.metadata.name);
  });

  it('once the function’s own pod is ready, the pool pod it took over is deleted and its process drains and exits; requests go on', async () => {
    const own = await eventually(
      async () => {
        const d = await cluster.deployment('pooled');
        return (d?.status?.readyReplicas ?? 0) >= 1 ? d : undefined;
      },
      60_000,
      'the Deployment’s own pod ready',
    );
    assert.equal(own.spec?.replicas, 1);
    const adoptedGone = await eventually(
      async () => {
        const reply = await cluster.plane.request<{ items: KubeObject[] }>(
          'GET',
          `/api/v1/namespaces/${cluster.namespace}/pods?labelSelector=${encodeURIComponent('nimbus.dev/adopted=true')}`,
        );
        return reply.body.items.length === 0 ? true : undefined;
      },
      60_000,
      'the taken-over pod to be gone',
    );
    assert.equal(adoptedGone, true);
    assert.ok(poolPid !== undefined, 'the first test saw the pool pod');
    await eventually(
      () => (alive(poolPid as number) ? undefined : true),
      30_000,
      'the pool pod’s process to exit',
    );
    const pids = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const reply = await send(cluster.gatewayBase, `/function/pooled.${cluster.namespace}`);
      assert.equal(reply.status, 200, reply.text);
      pids.add((reply.json() as { pid: number }).pid);
    }
    assert.equal(pids.size, 1, 'one replica serves now');
    const [pid] = [...pids];
    assert.ok(pid !== undefined && alive(pid));
    const ownPods = cluster.runner.pods().filter((p) => p.pid === pid);
    assert.equal(ownPods.length, 1, 'the function’s own pod serves');
  });

  it('deleting the last function at zero removes the namespace’s pool and its key', async () => {
    const deleted = await cluster.plane.request(
      'DELETE',
      `${FUNCTIONS}/${cluster.namespace}/functions/pooled`,
    );
    assert.equal(deleted.status, 200);
    await eventually(
      async () => ((await cluster.deployment('nimbus-pool-node20')) === undefined ? true : undefined),
      30_000,
      'the pool Deployment to go',
    );
    // The controller deletes the Deployment, then the key: poll for the second too.
    await eventually(
      async () => {
        const key = await cluster.plane.request(
          'GET',
          `/api/v1/namespaces/${cluster.namespace}/secrets/nimbus-pool-key`,
        );
        return key.status === 404 ? true : undefined;
      },
      30_000,
      'the pool key to go with the pool',
    );
  });
});
