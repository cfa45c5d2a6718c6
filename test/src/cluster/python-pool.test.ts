import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { derivePoolToken } from '@nimbus/api/pool-token';
import type { KubeObject } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { PYTHON_RUNTIME_IMAGE, RUNTIME_IMAGE } from '../harness/controller.js';
import type { RunningPod } from '../harness/pod-runner.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';

/** Says which process answered. */
const PY_SOURCE = `import os


async def handle(event, ctx):
    return {"pid": os.getpid(), "runtime": "python"}
`;
const NODE_SOURCE = `export const handle = async () => ({ pid: process.pid, runtime: 'node' });`;

interface PodView extends KubeObject {
  spec: { initContainers?: { image: string }[]; containers: { image: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
interface DeploymentView {
  spec: { template: { spec: PodView['spec'] } };
  status?: { readyReplicas?: number };
}

const commandLine = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');

/**
 * The warm pool per runtime on a real API server with kube-controller-manager: a namespace with a
 * Node and a Python function at zero keeps two pools, `nimbus-pool-node20` and
 * `nimbus-pool-python3-11`, and a wake takes a pod of the function's own runtime. The Python
 * pool's pods get their token as the Node pool's do (runtime-node's init container), and refuse a
 * specialise with another pod's token (attack).
 */
describe('the warm pool per runtime: Python functions at zero are served by runtime-python pool pods', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  let key: Buffer;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '2' },
      'pypool',
    );
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
  });

  const api = (path: string) => `/api/v1/namespaces/${cluster.namespace}${path}`;
  const readyPoolPods = (runtime: string) => cluster.readyPoolPods<PodView>(runtime);
  const untilReadyPoolPods = (runtime: string, count: number) =>
    eventually(
      async () => {
        const ready = await readyPoolPods(runtime);
        return ready.length === count ? ready : undefined;
      },
      90_000,
      `${count} ready ${runtime} pool pods`,
    );
  const running = (uid: string | undefined): RunningPod => {
    const pod = cluster.runner.pods().find((p) => p.uid === uid);
    assert.ok(pod !== undefined, `the pod runner runs pod ${uid}`);
    return pod;
  };
  const specialise = (pod: RunningPod, authorization: string | undefined) =>
    send(`http://${pod.ip}:${pod.port}`, '/_/specialise', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify({
        env: { NIMBUS_FUNCTION_NAME: 'stolen', NIMBUS_HANDLER: 'main.handle' },
        files: { 'main.py': 'def handle(event, ctx):\n    return "stolen"\n' },
      }),
    });
  const generic = async (pod: RunningPod) => {
    const ready = await send(`http://${pod.ip}:${pod.port}`, '/_/ready');
    return ready.status === 503 && ready.json<{ status: string }>().status === 'unspecialised';
  };

  let pythonPods: PodView[];

  it('keeps a Python pool beside the Node pool, each of its runtime’s image, tokens derived by runtime-node’s init', async () => {
    await cluster.createWithSpec('py-pooled', {
      runtime: 'python3.11',
      source: { inline: PY_SOURCE },
      scale: { min: 0, scaleToZeroAfter: '60s' },
    });
    pythonPods = await untilReadyPoolPods('python3.11', 2);
    assert.equal(
      await cluster.deployment('nimbus-pool-node20'),
      undefined,
      'no Node pool without a Node function',
    );
    await cluster.createFunction('node-pooled', { scale: { min: 0, scaleToZeroAfter: '60s' } });
    await untilReadyPoolPods('node20', 2);

    const pool = (name: string) =>
      cluster.plane.request<DeploymentView>(
        'GET',
        `/apis/apps/v1/namespaces/${cluster.namespace}/deployments/${name}`,
      );
    const python = (await pool('nimbus-pool-python3-11')).body.spec.template.spec;
    const node = (await pool('nimbus-pool-node20')).body.spec.template.spec;
    assert.equal(python.containers[0]?.image, PYTHON_RUNTIME_IMAGE);
    assert.equal(node.containers[0]?.image, RUNTIME_IMAGE);
    assert.equal(python.initContainers?.[0]?.image, RUNTIME_IMAGE);
    for (const pod of pythonPods) {
      const { pid } = running(pod.metadata.uid);
      assert.ok(pid !== undefined);
      assert.ok(
        (await commandLine(pid)).some((arg) => arg.endsWith('runtime-python/run.py')),
        'a Python pool pod runs runtime-python',
      );
    }
    const secret = await cluster.plane.request<{ data: { key: string } }>(
      'GET',
      api('/secrets/nimbus-pool-key'),
    );
    assert.equal(secret.status, 200, 'one key for the namespace’s pools');
    key = Buffer.from(secret.body.data.key, 'base64');
  });

  it('security: a Python pool pod refuses a specialise with another pod’s token, or none, and stays generic', async () => {
    const [a, b] = pythonPods.map((p) => running(p.metadata.uid));
    assert.ok(a !== undefined && b !== undefined && a.uid !== b.uid);
    const wrongPod = await specialise(b, `Bearer ${derivePoolToken(key, a.uid)}`);
    assert.equal(wrongPod.status, 403, wrongPod.text);
    assert.deepEqual(wrongPod.json(), { error: 'the Bearer token is not the one this replica accepts' });
    const none = await specialise(b, undefined);
    assert.equal(none.status, 401, none.text);
    assert.deepEqual(none.json(), { error: 'specialise needs an Authorization: Bearer token' });
    // A Node pool pod's token opens no Python pod either: tokens are per pod, not per runtime.
    const [nodePod] = await readyPoolPods('node20');
    const nodeToken = await specialise(b, `Bearer ${derivePoolToken(key, nodePod?.metadata.uid ?? '')}`);
    assert.equal(nodeToken.status, 403, nodeToken.text);
    assert.ok(await generic(b), 'pod B is still generic');
    assert.ok(await generic(a), 'pod A was never touched');
  });

  it('wakes each function at zero through a pool pod of its own runtime', async () => {
    const sent = Date.now();
    const py = await send(cluster.gatewayBase, `/function/py-pooled.${cluster.namespace}`);
    timings.push(`Python request → response at zero, through a pool pod: ${Date.now() - sent} ms`);
    assert.equal(py.status, 200, py.text);
    assert.equal(py.headers['x-nimbus-cold-start'], 'true');
    const pyAnswer = py.json<{ pid: number; runtime: string }>();
    assert.equal(pyAnswer.runtime, 'python');
    const pyPod = cluster.runner.pods().find((p) => p.pid === pyAnswer.pid);
    assert.ok(
      pyPod !== undefined && pythonPods.some((p) => p.metadata.uid === pyPod.uid),
      'served by one of the Python pool pods attacked above',
    );
    const adopted = await cluster.plane.request<KubeObject>('GET', api(`/pods/${pyPod.name}`));
    // Already handed off to the function's own pod by now is fine too: then it is being deleted.
    if (adopted.status === 200 && adopted.body.metadata.deletionTimestamp === undefined) {
      assert.equal(adopted.body.metadata.labels?.['nimbus.dev/adopted'], 'true');
      assert.equal(adopted.body.metadata.labels?.['nimbus.dev/function'], 'py-pooled');
      assert.equal(adopted.body.metadata.labels?.['nimbus.dev/pool'], undefined);
    }

    const nodePods = await readyPoolPods('node20');
    const node = await send(cluster.gatewayBase, `/function/node-pooled.${cluster.namespace}`);
    assert.equal(node.status, 200, node.text);
    assert.equal(node.headers['x-nimbus-cold-start'], 'true');
    const nodeAnswer = node.json<{ pid: number }>();
    const nodePod = cluster.runner.pods().find((p) => p.pid === nodeAnswer.pid);
    assert.ok(
      nodePod !== undefined && nodePods.some((p) => p.metadata.uid === nodePod.uid),
      'served by a Node pool pod',
    );

    // The Python pool refills with runtime-python pods.
    const refilled = await eventually(
      async () =>
        (await readyPoolPods('python3.11')).find(
          (p) => !pythonPods.some((q) => q.metadata.uid === p.metadata.uid),
        ),
      60_000,
      'a new Python pool pod',
    );
    assert.ok(refilled.metadata.name?.startsWith('nimbus-pool-python3-11-'));
  });

  it('removes the Python pool with the last Python function at zero, and keeps the Node pool and the key', async () => {
    const deleted = await cluster.plane.request(
      'DELETE',
      `${FUNCTIONS}/${cluster.namespace}/functions/py-pooled`,
    );
    assert.equal(deleted.status, 200);
    await eventually(
      async () => ((await cluster.deployment('nimbus-pool-python3-11')) === undefined ? true : undefined),
      30_000,
      'the Python pool Deployment to go',
    );
    assert.ok((await cluster.deployment('nimbus-pool-node20')) !== undefined, 'the Node pool stays');
    const secret = await cluster.plane.request('GET', api('/secrets/nimbus-pool-key'));
    assert.equal(secret.status, 200, 'the key stays for the Node pool');
  });
});
