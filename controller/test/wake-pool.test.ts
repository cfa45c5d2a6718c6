import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { ManualClock, settle } from '@nimbus/testkit';
import {
  ADOPTION_WAIT_MS,
  ClusterAutoscaler,
  type PoolAdopter,
  type ServingPod,
} from '../src/autoscale/cluster-autoscaler.js';

const quiet = createLogger({}, 'error', () => {});

function fn(name: string): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', generation: 1 },
    spec: { source: { inline: 'export default () => 1' }, scale: { min: 0 } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** A warm pool whose adoptions finish when the test says, recording what happened in which order. */
class Pool implements PoolAdopter {
  readonly events: string[] = [];
  servingNow: ServingPod | undefined;
  private finish: ((pod: ServingPod | undefined) => void) | undefined;

  adopt(f: FunctionResource): Promise<ServingPod | undefined> {
    this.events.push(`adopt ${f.metadata.name}`);
    return new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  serving(): ServingPod | undefined {
    return this.servingNow;
  }

  loaded(pod: ServingPod | undefined): void {
    this.events.push('loaded');
    this.finish?.(pod);
  }
}

function world(pool: Pool) {
  const clock = new ManualClock();
  const deployments = new Map<string, { replicas: number; ready: number }>();
  let releaseWrite: (() => void) | undefined;
  const autoscaler = new ClusterAutoscaler(
    { list: () => [] },
    { observe: (namespace, name) => deployments.get(`${namespace}/${name}`) },
    { sample: () => undefined },
    {
      setReplicas: (namespace, name, replicas) => {
        pool.events.push(`write ${namespace}/${name}=${replicas}`);
        return new Promise<void>((resolve) => {
          releaseWrite = () => {
            pool.events.push('written');
            resolve();
          };
        });
      },
    },
    {},
    () => {},
    clock,
    quiet,
    pool,
  );
  return { clock, deployments, autoscaler, written: () => releaseWrite?.() };
}

const POD = { host: '10.244.3.7', port: 8080 };

describe('ClusterAutoscaler.wake with a warm pool: the pod taken over is named in the answer', () => {
  it('from zero the adoption and the scale write run at once, not one after the other; the pod comes once loaded', async () => {
    const pool = new Pool();
    const w = world(pool);
    w.deployments.set('team/cold', { replicas: 0, ready: 0 });
    const woken = w.autoscaler.wake(fn('cold'), 1);
    await settle();
    assert.deepEqual(pool.events, ['adopt cold', 'write team/cold=1'], 'both started before either ended');
    w.written();
    const { outcome, serving } = await woken;
    assert.deepEqual(outcome, { outcome: 'raised', replicas: 1 }, 'the outcome does not wait for the pod');
    let named: ServingPod | undefined | 'pending' = 'pending';
    void serving.then((pod) => {
      named = pod;
    });
    await settle();
    assert.equal(named, 'pending', 'not named before its handler loaded');
    pool.loaded(POD);
    await settle();
    assert.deepEqual(named, POD);
  });

  it('a second wake while the pod loads (another gateway’s) is unchanged, waits for the same pod, and takes no second one', async () => {
    const pool = new Pool();
    const w = world(pool);
    w.deployments.set('team/cold', { replicas: 0, ready: 0 });
    const first = w.autoscaler.wake(fn('cold'), 1);
    await settle();
    w.written();
    await first;
    w.deployments.set('team/cold', { replicas: 1, ready: 0 });
    const second = await w.autoscaler.wake(fn('cold'), 1);
    assert.deepEqual(second.outcome, { outcome: 'unchanged', replicas: 1 });
    pool.loaded(POD);
    assert.deepEqual(await second.serving, POD);
    assert.deepEqual(await (await first).serving, POD);
    assert.equal(pool.events.filter((e) => e.startsWith('adopt')).length, 1);
  });

  it('later wakes name the adopted pod while it serves, and nothing once it is gone', async () => {
    const pool = new Pool();
    const w = world(pool);
    w.deployments.set('team/cold', { replicas: 1, ready: 0 });
    pool.servingNow = POD;
    const serving = await w.autoscaler.wake(fn('cold'), 1);
    assert.deepEqual(serving.outcome, { outcome: 'unchanged', replicas: 1 });
    assert.deepEqual(await serving.serving, POD);
    pool.servingNow = undefined;
    assert.equal(await (await w.autoscaler.wake(fn('cold'), 1)).serving, undefined);
    assert.deepEqual(pool.events, [], 'no adoption for a function that runs');
  });

  it('a pod already serving the function at zero is named again rather than a second one taken', async () => {
    const pool = new Pool();
    const w = world(pool);
    w.deployments.set('team/cold', { replicas: 0, ready: 0 });
    pool.servingNow = POD;
    const woken = w.autoscaler.wake(fn('cold'), 1);
    await settle();
    w.written();
    assert.deepEqual(await (await woken).serving, POD);
    assert.deepEqual(pool.events, ['write team/cold=1', 'written']);
  });

  it('a pod that does not load within ADOPTION_WAIT_MS is not waited for; no pool pod names nothing', async () => {
    const pool = new Pool();
    const w = world(pool);
    w.deployments.set('team/slow', { replicas: 0, ready: 0 });
    const woken = w.autoscaler.wake(fn('slow'), 1);
    await settle();
    w.written();
    const { serving } = await woken;
    let named: ServingPod | undefined | 'pending' = 'pending';
    void serving.then((pod) => {
      named = pod;
    });
    await w.clock.advanceAndSettle(ADOPTION_WAIT_MS - 1);
    assert.equal(named, 'pending');
    await w.clock.advanceAndSettle(1);
    assert.equal(named, undefined);
    pool.loaded(undefined);

    w.deployments.set('team/other', { replicas: 0, ready: 0 });
    const other = w.autoscaler.wake(fn('other'), 1);
    await settle();
    w.written();
    pool.loaded(undefined);
    assert.equal(await (await other).serving, undefined);
    assert.equal(w.clock.pending, 0, 'no timer left behind');
  });
});
