import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRedisStores } from '@nimbus/store';
import { type RedisServer, freePort, send, startRedisServer } from '@nimbus/testkit';
import { PYTHON_RUNTIME_IMAGE } from '../harness/controller.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const STATE_KEY = 'the-state-key-of-the-python-suite-0123456789';

/** Says which process answered, under which Python, and to whom. */
const HELLO = `import os
import sys


async def handle(event, ctx):
    return {"pid": os.getpid(), "python": list(sys.version_info[:2]), "greeting": f"hi {event.query.get('name', 'you')}"}
`;

/** Counts in ctx.state (a sync handler: its state calls block its own thread). */
const COUNTER = `import os


def handle(event, ctx):
    return {"pid": os.getpid(), "hits": ctx.state.incr("hits")}
`;

interface Answer {
  pid: number;
  python: number[];
  greeting: string;
}

interface PodView {
  metadata: { name: string };
  spec: { containers: { image: string; env?: { name: string; value?: string }[] }[] };
}

/** The command line of a process the pod runner started: runtime-python runs run.py. */
const commandLine = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');

/**
 * python3.11 Functions on a real API server with kube-controller-manager, without a warm pool:
 * the controller's Deployment names the runtime-python image, the pod runner runs this
 * repository's runtime-python for it, and the cluster gateway wakes it from zero; ctx.state goes
 * through the gateway's state service with the token the controller mounted.
 */
describe('python3.11 functions in a cluster: their own pods, from zero, and ctx.state through the state service', function () {
  this.timeout(180_000);
  let cluster: ScalingCluster;
  let redis: RedisServer;

  before(async function () {
    this.timeout(180_000);
    redis = await startRedisServer();
    const statePort = await freePort();
    cluster = await ScalingCluster.start(
      {
        NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
        NIMBUS_STATE_SERVICE_URL: `http://127.0.0.1:${statePort}`,
        NIMBUS_STATE_KEY: STATE_KEY,
      },
      'python',
      {
        gatewayEnv: {
          NIMBUS_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          NIMBUS_STATE_PORT: String(statePort),
          NIMBUS_STATE_HOST: '127.0.0.1',
          NIMBUS_STATE_KEY: STATE_KEY,
        },
      },
    );
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
    await redis?.stop();
  });

  it('wakes from zero into a pod of the runtime-python image that runs run.py with the code as main.py; then serves warm', async () => {
    await cluster.createWithSpec('hello-py', { runtime: 'python3.11', source: { inline: HELLO } });
    const cold = await send(cluster.gatewayBase, `/function/hello-py.${cluster.namespace}?name=Ada`);
    assert.equal(cold.status, 200, cold.text);
    assert.equal(cold.headers['x-nimbus-cold-start'], 'true');
    const answer = cold.json<Answer>();
    assert.equal(answer.greeting, 'hi Ada');
    assert.equal(answer.python[0], 3);
    const pod = cluster.runner.pods().find((p) => p.pid === answer.pid);
    assert.ok(pod !== undefined, 'answered by a process the pod runner started for a pod');
    assert.match(pod.name, /^hello-py-/, 'the function’s own pod');
    assert.ok(
      (await commandLine(answer.pid)).some((arg) => arg.endsWith('runtime-python/run.py')),
      'the process is runtime-python',
    );
    const [view] = (await cluster.pods('hello-py')) as unknown as PodView[];
    assert.equal(view?.spec.containers[0]?.image, PYTHON_RUNTIME_IMAGE);
    const env = new Map(view?.spec.containers[0]?.env?.map((e) => [e.name, e.value]));
    assert.equal(env.get('NIMBUS_HANDLER'), 'main.handle');
    const source = await cluster.plane.request<{ data: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${cluster.namespace}/configmaps/hello-py-source`,
    );
    assert.deepEqual(source.body.data, { 'main.py': HELLO });

    const warm = await send(cluster.gatewayBase, `/function/hello-py.${cluster.namespace}?name=Bo`);
    assert.equal(warm.status, 200, warm.text);
    assert.equal(warm.headers['x-nimbus-cold-start'], undefined);
    assert.equal(warm.json<Answer>().pid, answer.pid, 'the same replica, warm');
    assert.equal(warm.json<Answer>().greeting, 'hi Bo');
  });

  it('counts in ctx.state through the gateway’s state service, with the token the controller mounted', async () => {
    await cluster.createWithSpec('counter-py', {
      runtime: 'python3.11',
      source: { inline: COUNTER },
      state: { enabled: true },
    });
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await send(cluster.gatewayBase, `/function/counter-py.${cluster.namespace}`);
      assert.equal(reply.status, 200, reply.text);
      counts.push(reply.json<{ hits: number }>().hits);
    }
    assert.deepEqual(counts, [1, 2, 3]);
    const [view] = (await cluster.pods('counter-py')) as unknown as PodView[];
    const env = new Map(view?.spec.containers[0]?.env?.map((e) => [e.name, e.value]));
    assert.equal(env.get('NIMBUS_STATE_BACKEND'), 'service');
    assert.equal(env.get('NIMBUS_STATE_URL'), cluster.controller.config.state?.serviceUrl);
    // The service wrote it to Redis, in the function's own key space.
    const stores = createRedisStores(`redis://127.0.0.1:${redis.port}`);
    try {
      const stored = await stores.connection.run('hget', (c) =>
        c.hget(`nimbus:state:${cluster.namespace}:counter-py:hits`, 'v'),
      );
      assert.equal(stored, '3');
    } finally {
      await stores.close();
    }
  });
});
