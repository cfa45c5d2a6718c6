import assert from 'node:assert/strict';
import { derivePoolToken } from '@nimbus/api/pool-token';
import type { KubeObject } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import type { RunningPod } from '../harness/pod-runner.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/** What a function can find of its pod's specialise token once it runs in a pool pod. */
const SPY_SOURCE = `import { existsSync, readFileSync, readdirSync } from 'node:fs';
export const handle = async () => {
  const environ = readFileSync('/proc/self/environ', 'latin1');
  const entry = environ.split('\\0').find((e) => e.startsWith('NIMBUS_POOL_TOKEN_FILE='));
  const tokenFile = entry === undefined ? null : entry.slice('NIMBUS_POOL_TOKEN_FILE='.length);
  let volumes = [];
  try { volumes = readdirSync('volumes'); } catch {}
  return {
    pid: process.pid,
    env: JSON.stringify(process.env),
    environ,
    tokenFile,
    tokenFileExists: tokenFile !== null && existsSync(tokenFile),
    volumes,
  };
};`;

interface Spied {
  pid: number;
  env: string;
  environ: string;
  tokenFile: string | null;
  tokenFileExists: boolean;
  volumes: string[];
}

interface EnvVar {
  name: string;
  value?: string;
}
interface PodSpecView {
  initContainers?: { name: string; env?: EnvVar[] }[];
  containers: { name: string; env?: EnvVar[] }[];
}
interface PodView extends KubeObject {
  spec: PodSpecView;
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * Attack: specialise a warm-pool pod (install and run one's own code) in a cluster without being
 * the controller, or with a token taken from another pod; and, as a function running in a pool
 * pod, find the token. Defended: each pool pod accepts only HMAC(pool key, its UID); the key is in
 * a Secret only the pods' init container mounts; the token reaches the runtime through a memory
 * emptyDir it empties at start, never through an env value.
 */
describe('security: warm-pool pods in a cluster take specialise only from the controller, with their own token', function () {
  this.timeout(240_000);
  let cluster: ScalingCluster;
  let key: Buffer;

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '2' },
      'poolsec',
    );
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
  });

  const api = (path: string) => `/api/v1/namespaces/${cluster.namespace}${path}`;
  const readyPoolPods = () => cluster.readyPoolPods<PodView>();
  const running = (uid: string | undefined): RunningPod => {
    const pod = cluster.runner.pods().find((p) => p.uid === uid);
    assert.ok(pod !== undefined, `the pod runner runs pod ${uid}`);
    return pod;
  };
  const specialise = (pod: RunningPod, authorization: string | undefined, marker: string) =>
    send(`http://${pod.ip}:${pod.port}`, '/_/specialise', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify({
        env: { NIMBUS_FUNCTION_NAME: marker, NIMBUS_HANDLER: 'index.default' },
        files: { 'index.mjs': `export default async () => '${marker}';` },
      }),
    });
  const generic = async (pod: RunningPod) => {
    const ready = await send(`http://${pod.ip}:${pod.port}`, '/_/ready');
    return ready.status === 503 && ready.json<{ status: string }>().status === 'unspecialised';
  };
  const allEnv = (spec: PodSpecView) =>
    [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) => c.env ?? []);

  let pods: PodView[];

  it('renders no token in any env value of the pool Deployment or its pods', async () => {
    await cluster.createFunction('spy', {
      scale: { min: 0, scaleToZeroAfter: '60s' },
      source: { inline: SPY_SOURCE },
    });
    pods = await eventually(
      async () => {
        const ready = await readyPoolPods();
        return ready.length === 2 ? ready : undefined;
      },
      90_000,
      'two ready pool pods',
    );
    const secret = await cluster.plane.request<{ data: { key: string } }>(
      'GET',
      api('/secrets/nimbus-pool-key'),
    );
    assert.equal(secret.status, 200);
    key = Buffer.from(secret.body.data.key, 'base64');
    assert.equal(key.length, 32);
    const tokens = pods.map((p) => derivePoolToken(key, p.metadata.uid ?? ''));

    const deployment = await cluster.plane.request<{ spec: { template: { spec: PodSpecView } } }>(
      'GET',
      `/apis/apps/v1/namespaces/${cluster.namespace}/deployments/nimbus-pool-node20`,
    );
    assert.equal(deployment.status, 200);
    const specs = [deployment.body.spec.template.spec, ...pods.map((p) => p.spec)];
    for (const spec of specs) {
      const env = allEnv(spec);
      assert.ok(env.length > 0);
      assert.ok(!env.some((e) => e.name === 'NIMBUS_POOL_TOKEN'), 'no NIMBUS_POOL_TOKEN variable');
      for (const value of env.map((e) => e.value ?? '')) {
        assert.ok(!tokens.some((t) => value.includes(t)), `no pod token in an env value (${value})`);
        assert.ok(!value.includes(key.toString('base64')) && !value.includes(key.toString('hex')));
      }
      assert.ok(
        env.some(
          (e) => e.name === 'NIMBUS_POOL_TOKEN_FILE' && e.value === '/var/run/nimbus/pool-token/token',
        ),
      );
    }
  });

  it('refuses pod B a token derived for pod A, and any caller without a token; B stays generic', async () => {
    const [a, b] = pods.map((p) => running(p.metadata.uid));
    assert.ok(a !== undefined && b !== undefined && a.uid !== b.uid);
    const tokenOfA = derivePoolToken(key, a.uid);
    const wrongPod = await specialise(b, `Bearer ${tokenOfA}`, 'stolen');
    assert.equal(wrongPod.status, 403, wrongPod.text);
    assert.deepEqual(wrongPod.json(), { error: 'the Bearer token is not the one this replica accepts' });
    const none = await specialise(b, undefined, 'anonymous');
    assert.equal(none.status, 401, none.text);
    assert.deepEqual(none.json(), { error: 'specialise needs an Authorization: Bearer token' });
    assert.ok(await generic(b), 'pod B is still generic');
    assert.ok(await generic(a), 'pod A was never touched');
  });

  it('after the controller specialises a pool pod, the function finds no token in env, /proc/self/environ or the token file', async () => {
    const reply = await send(cluster.gatewayBase, `/function/spy.${cluster.namespace}`);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    const spied = reply.json<Spied>();
    const pod = cluster.runner.pods().find((p) => p.pid === spied.pid);
    assert.ok(pod !== undefined, 'served by a pod the runner runs');
    assert.ok(
      pods.some((p) => p.metadata.uid === pod.uid),
      'the pod is one of the pool pods attacked above: the attack left them usable',
    );
    const token = derivePoolToken(key, pod.uid);
    assert.ok(!spied.env.includes(token), 'not in process.env');
    assert.ok(!spied.environ.includes(token), 'not in /proc/self/environ');
    assert.ok(spied.tokenFile !== null, 'the function knows where the token file was');
    assert.equal(spied.tokenFileExists, false, 'the token file is gone');
    for (const text of [spied.env, spied.environ]) {
      assert.ok(!text.includes(key.toString('base64')) && !text.includes(key.toString('hex')), 'nor the key');
    }
    assert.ok(
      !spied.volumes.includes('pool-key'),
      'the pool key volume is not mounted in the runtime container',
    );

    // That token was the pod's own (it is past the token check), and a specialised pod takes no other function.
    const again = await specialise(pod, `Bearer ${token}`, 'second');
    assert.equal(again.status, 409, again.text);
    assert.match(again.json<{ error: string }>().error, /has taken on function spy/);
    const after = await send(cluster.gatewayBase, `/function/spy.${cluster.namespace}`);
    assert.equal(after.status, 200);
    assert.equal(after.json<Spied>().pid, spied.pid);
  });
});
