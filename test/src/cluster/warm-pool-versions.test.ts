import assert from 'node:assert/strict';
import type { FunctionStatus } from '@nimbus/api';
import { KubeClient, type KubeObject, loadKubeConfig } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';

/** Code that names itself and the process it runs in. */
const answering = (code: string) =>
  `export const handle = async () => ({ code: ${JSON.stringify(code)}, pid: process.pid });`;

/**
 * A versioned Function at zero on kube-apiserver with kube-controller-manager: a call pinned to a
 * version wakes that version from the warm pool, and the pool pod it takes over runs that
 * version's code (not the spec's), labelled so the version's Service lists it.
 */
describe('the warm pool for versions: each version wakes on a pool pod specialised as that version', function () {
  this.timeout(300_000);
  let cluster: ScalingCluster;
  let client: KubeClient;
  const timings: string[] = [];
  const name = 'split';

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '2' },
      'pool-versions',
    );
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: cluster.plane.kubeconfigPath }));
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    client?.close();
    await cluster?.stop();
  });

  const path = () => `${FUNCTIONS}/${cluster.namespace}/functions/${name}`;
  const status = async () =>
    (await cluster.plane.request<{ status?: FunctionStatus }>('GET', path())).body.status;
  const patchSpec = (spec: Record<string, unknown>) =>
    client.request('PATCH', path(), { body: { spec }, contentType: 'application/merge-patch+json' });
  const pidOf = (pod: string | undefined) => cluster.runner.pods().find((p) => p.name === pod)?.pid;
  const pod = async (podName: string) =>
    cluster.plane.request<KubeObject>('GET', `/api/v1/namespaces/${cluster.namespace}/pods/${podName}`);

  it('runs v1 (code A) and v2 (code B) at zero, 50/50, with two ready pool pods', async () => {
    await cluster.createWithSpec(name, {
      handler: 'index.handle',
      source: { inline: answering('A') },
      scale: { min: 0, scaleToZeroAfter: '60s' },
      versions: { keep: 5 },
    });
    await eventually(async () => ((await status())?.latestVersion === 'v1' ? true : undefined), 30_000, 'v1');
    await patchSpec({ source: { inline: answering('B') } });
    await eventually(async () => ((await status())?.latestVersion === 'v2' ? true : undefined), 30_000, 'v2');
    await patchSpec({
      traffic: [
        { version: 'v1', percent: 50 },
        { version: 'v2', percent: 50 },
      ],
    });
    const traffic = await eventually(
      async () => {
        const t = (await status())?.traffic;
        return t?.length === 2 ? t : undefined;
      },
      30_000,
      'status.traffic 50/50',
    );
    assert.deepEqual(
      traffic.map((t) => [t.version, t.percent]),
      [
        ['v1', 50],
        ['v2', 50],
      ],
    );
    for (const version of ['v1', 'v2'])
      await eventually(
        async () =>
          (await cluster.deployment(`${name}-${version}`))?.spec?.replicas === 0 ? true : undefined,
        30_000,
        `${name}-${version} at zero`,
      );
    await eventually(
      async () => ((await cluster.readyPoolPods()).length === 2 ? true : undefined),
      90_000,
      'two ready pool pods',
    );
  });

  for (const [version, code] of [
    ['v1', 'A'],
    ['v2', 'B'],
  ] as const) {
    it(`a call pinned to ${version} wakes it on a pool pod that answers with code ${code}`, async () => {
      const members = await cluster.readyPoolPods();
      const pids = new Map(members.map((m) => [pidOf(m.metadata.name), m.metadata.name ?? '']));
      assert.ok(pids.size > 0 && !pids.has(undefined), 'the pod runner runs the pool pods');
      assert.equal((await cluster.deployment(`${name}-${version}`))?.spec?.replicas, 0, `${version} at zero`);

      const sent = Date.now();
      const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}`, {
        headers: { 'x-nimbus-version': version },
      });
      timings.push(`${version} at zero through a pool pod: ${Date.now() - sent} ms`);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers['x-nimbus-version'], version);
      assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
      const body = reply.json() as { code: string; pid: number };
      assert.equal(body.code, code, `${version}'s own code, not the spec's`);
      const taken = pids.get(body.pid);
      assert.ok(taken !== undefined, `served by a pool pod's process (pid ${body.pid})`);

      // The pod may be handed back once the version's own pod is ready; its object stays while it drains.
      const adopted = await pod(taken);
      assert.equal(adopted.status, 200, `pod ${taken} still there`);
      const labels = adopted.body.metadata.labels ?? {};
      assert.equal(labels['nimbus.dev/adopted'], 'true');
      assert.equal(labels['nimbus.dev/version'], version);
      assert.equal(labels['nimbus.dev/function'], name);
      assert.equal(labels['nimbus.dev/pool'], undefined);
      assert.equal(adopted.body.metadata.ownerReferences?.[0]?.kind, 'Function');
    });
  }

  it('each version’s pool pod is handed back once that version’s own pod is ready', async () => {
    for (const version of ['v1', 'v2'])
      await eventually(
        async () => {
          const d = await cluster.deployment(`${name}-${version}`);
          return (d?.status?.readyReplicas ?? 0) >= 1 ? true : undefined;
        },
        60_000,
        `${name}-${version}'s own pod ready`,
      );
    await eventually(
      async () => {
        const selector = encodeURIComponent('nimbus.dev/adopted=true');
        const reply = await cluster.plane.request<{ items: KubeObject[] }>(
          'GET',
          `/api/v1/namespaces/${cluster.namespace}/pods?labelSelector=${selector}`,
        );
        return reply.body.items.every((p) => p.metadata.deletionTimestamp !== undefined) ? true : undefined;
      },
      60_000,
      'the taken-over pods to be handed back',
    );
    for (const [version, code] of [
      ['v1', 'A'],
      ['v2', 'B'],
    ]) {
      const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}`, {
        headers: { 'x-nimbus-version': version },
      });
      assert.equal(reply.status, 200, reply.text);
      assert.equal((reply.json() as { code: string }).code, code);
    }
  });
});
