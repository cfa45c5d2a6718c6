import assert from 'node:assert/strict';
import { type FunctionResource, type TrafficStatus, createLogger, validateFunction } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import { ClusterAutoscaler, type PoolAdopter, TICK_MS } from '../src/autoscale/cluster-autoscaler.js';
import type { AutoscalerTuning } from '../src/autoscale/config.js';
import type { ConcurrencySample } from '../src/autoscale/window.js';

const quiet = createLogger({}, 'error', () => {});

/** Function `name` with spec.versions, its status.traffic as given. */
function versioned(
  name: string,
  traffic: TrafficStatus[],
  scale: Record<string, unknown> = {},
  generation = 1,
): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', generation },
    spec: { source: { inline: 'export default () => 1' }, scale, versions: { keep: 5 } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return { ...result.value, status: { traffic } };
}

function plain(name: string): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', generation: 1 },
    spec: { source: { inline: 'export default () => 1' }, scale: { min: 0 } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** The world around the loop, keyed as the controller keys it: Deployments by name, samples by route. */
class World {
  readonly clock = new ManualClock();
  functions: FunctionResource[] = [];
  readonly deployments = new Map<string, { replicas: number; ready: number }>();
  readonly concurrency = new Map<string, number>();
  readonly writes: [string, number][] = [];
  readonly changes: [string, string][] = [];
  readonly adoptions: string[] = [];
  /** Pool pods already serving, by `function@version`. */
  readonly serving = new Map<string, { host: string; port: number }>();
  readonly autoscaler: ClusterAutoscaler;

  constructor(tuning: Partial<AutoscalerTuning> = {}) {
    const pool: PoolAdopter = {
      adopt: async (f, version) => {
        this.adoptions.push(version === undefined ? f.metadata.name : `${f.metadata.name}@${version}`);
        return { host: '10.0.0.9', port: 8080 };
      },
      serving: (f, version) => this.serving.get(`${f.metadata.name}@${version}`),
    };
    this.autoscaler = new ClusterAutoscaler(
      { list: () => this.functions },
      { observe: (namespace, name) => this.deployments.get(`${namespace}/${name}`) },
      {
        sample: (key): ConcurrencySample | undefined => {
          const concurrency = this.concurrency.get(key);
          return concurrency === undefined ? undefined : { at: this.clock.now(), concurrency };
        },
      },
      {
        setReplicas: async (namespace, name, replicas) => {
          this.writes.push([`${namespace}/${name}`, replicas]);
        },
      },
      tuning,
      (key, reason) => this.changes.push([key, reason]),
      this.clock,
      quiet,
      pool,
    );
  }

  ticks(n: number): void {
    for (let i = 0; i < n; i++) this.clock.advance(TICK_MS);
  }
}

const SPLIT: TrafficStatus[] = [
  { version: 'v1', percent: 90 },
  { version: 'v2', percent: 10 },
  { version: 'v3', percent: 0, tag: 'canary' },
];

describe('ClusterAutoscaler: each version of a versioned Function scaled on its own', () => {
  it('a version with a share gets min..max, a tag alone starts at 0, a version traffic does not name gets 0', () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { min: 2, max: 5 });
    assert.equal(world.autoscaler.replicasFor(f, 'v1'), 2);
    assert.equal(world.autoscaler.replicasFor(f, 'v2'), 2);
    assert.equal(world.autoscaler.replicasFor(f, 'v3'), 0);
    assert.equal(world.autoscaler.replicasFor(f, 'v4'), 0);
    assert.equal(world.autoscaler.replicasFor(f), 4, 'without a version: the sum over its versions');
    assert.equal(world.autoscaler.replicasFor(plain('flat'), 'v1'), 0, 'a plain Function has no versions');
  });

  it('a new leader resumes each version from its own Deployment, by the version’s object name', () => {
    const world = new World();
    world.deployments.set('team/hello-v1', { replicas: 4, ready: 4 });
    world.deployments.set('team/hello-v3', { replicas: 1, ready: 1 });
    world.deployments.set('team/hello', { replicas: 9, ready: 9 });
    const f = versioned('hello', SPLIT, { max: 10 });
    assert.equal(world.autoscaler.replicasFor(f, 'v1'), 4);
    assert.equal(world.autoscaler.replicasFor(f, 'v3'), 1);
  });

  it('ticks on each version’s own reports and asks for a reconcile of the Function', () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { target: 1, max: 10 });
    world.functions = [f];
    world.deployments.set('team/hello-v1', { replicas: 1, ready: 1 });
    world.deployments.set('team/hello-v2', { replicas: 1, ready: 1 });
    assert.equal(world.autoscaler.replicasFor(f, 'v1'), 1);
    assert.equal(world.autoscaler.replicasFor(f, 'v2'), 1);
    // The Function's own key carries no version's load.
    world.concurrency.set('team/hello', 50);
    world.concurrency.set('team/hello@v1', 7);
    world.concurrency.set('team/hello@v2', 0.5);
    world.autoscaler.start();
    world.ticks(1);
    assert.deepEqual(world.changes, [['team/hello', 'panic']]);
    assert.equal(world.autoscaler.replicasFor(f, 'v1'), 10);
    assert.equal(world.autoscaler.replicasFor(f, 'v2'), 1);
  });

  it('a version reached by tag only goes back to zero when idle, below spec.scale.min', () => {
    const world = new World({ stableWindowMs: 6000, panicWindowMs: 1000 });
    const f = versioned('hello', SPLIT, { min: 1, scaleToZeroAfter: '10s' });
    world.functions = [f];
    for (const v of ['v1', 'v2', 'v3']) world.deployments.set(`team/hello-${v}`, { replicas: 1, ready: 1 });
    for (const v of ['v1', 'v2', 'v3']) world.concurrency.set(`team/hello@${v}`, 0);
    world.autoscaler.start();
    world.ticks(12);
    assert.equal(world.autoscaler.replicasFor(f, 'v3'), 0);
    assert.equal(world.autoscaler.replicasFor(f, 'v1'), 1);
    assert.equal(world.autoscaler.replicasFor(f, 'v2'), 1);
    assert.deepEqual(world.changes, [['team/hello', 'scale-to-zero']]);
  });

  it('a version that leaves status.traffic gets 0 and is forgotten; one given a share gets min again', () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { min: 2, max: 5 });
    world.functions = [f];
    assert.equal(world.autoscaler.replicasFor(f, 'v2'), 2);
    const moved = versioned('hello', [{ version: 'v1', percent: 100 }], { min: 2, max: 5 });
    world.functions = [moved];
    world.autoscaler.start();
    world.ticks(1);
    assert.equal(world.autoscaler.replicasFor(moved, 'v2'), 0);
    // The tag-only v3 gets a share: it is held to min from now on.
    const promoted = versioned(
      'hello',
      [
        { version: 'v1', percent: 50 },
        { version: 'v3', percent: 50 },
      ],
      { min: 2, max: 5 },
    );
    world.deployments.set('team/hello-v3', { replicas: 0, ready: 0 });
    world.functions = [promoted];
    world.ticks(1);
    assert.equal(world.autoscaler.replicasFor(promoted, 'v3'), 2);
  });

  it('a wake names a version: its Deployment is written, and a pool pod taken for that version', async () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { min: 0 });
    world.deployments.set('team/hello-v3', { replicas: 0, ready: 0 });
    assert.equal(world.autoscaler.replicasFor(f, 'v3'), 0);
    const woken = await world.autoscaler.wake(f, 2, 'v3');
    assert.deepEqual(woken.outcome, { outcome: 'raised', replicas: 1 });
    assert.equal(woken.takingOver, true);
    assert.deepEqual(await woken.serving, { host: '10.0.0.9', port: 8080 });
    assert.deepEqual(world.writes, [['team/hello-v3', 1]]);
    assert.deepEqual(world.changes, [['team/hello', 'wake']]);
    assert.deepEqual(world.adoptions, ['hello@v3'], 'the version, not the spec, is what the pod becomes');
  });

  it('a version’s pool pod serves that version alone: a wake of another takes its own', async () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { min: 0 });
    world.deployments.set('team/hello-v1', { replicas: 1, ready: 0 });
    world.deployments.set('team/hello-v2', { replicas: 0, ready: 0 });
    world.serving.set('hello@v1', { host: '10.0.0.1', port: 8080 });
    // v1 already asks for its replica: the wake names v1's pool pod, taking none.
    const v1 = await world.autoscaler.wake(f, 1, 'v1');
    assert.deepEqual(await v1.serving, { host: '10.0.0.1', port: 8080 });
    const v2 = await world.autoscaler.wake(f, 1, 'v2');
    assert.deepEqual(await v2.serving, { host: '10.0.0.9', port: 8080 });
    assert.deepEqual(world.adoptions, ['hello@v2']);
  });

  it('refuses to wake what no call can reach, as an unknown Function, writing nothing', async () => {
    const world = new World();
    const f = versioned('hello', SPLIT, { min: 0 });
    world.deployments.set('team/hello-v4', { replicas: 0, ready: 0 });
    for (const version of ['v4', undefined]) {
      const woken = await world.autoscaler.wake(f, 1, version);
      assert.deepEqual(woken.outcome, { outcome: 'not-found' }, `version ${version}`);
    }
    const flat = await world.autoscaler.wake(plain('flat'), 1, 'v1');
    assert.deepEqual(flat.outcome, { outcome: 'not-found' });
    assert.deepEqual(world.writes, []);
    assert.deepEqual(world.changes, []);
  });

  it('a plain Function still wakes by its own name and may take a pool pod', async () => {
    const world = new World();
    world.deployments.set('team/flat', { replicas: 0, ready: 0 });
    const f = plain('flat');
    assert.equal(world.autoscaler.replicasFor(f), 0);
    const woken = await world.autoscaler.wake(f, 1);
    assert.deepEqual(woken.outcome, { outcome: 'raised', replicas: 1 });
    assert.deepEqual(world.writes, [['team/flat', 1]]);
    assert.deepEqual(world.adoptions, ['flat']);
  });
});
