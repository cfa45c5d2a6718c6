import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import { ClusterAutoscaler, TICK_MS } from '../src/autoscale/cluster-autoscaler.js';
import type { AutoscalerTuning } from '../src/autoscale/config.js';
import type { ConcurrencySample } from '../src/autoscale/window.js';

const quiet = createLogger({}, 'error', () => {});

function fn(name: string, scale: Record<string, unknown> = {}, generation = 1): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'team', generation },
    spec: { source: { inline: 'export default () => 1' }, scale },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** The world around the loop: Functions, Deployments, gateway reports, and the scale writes it made. */
class World {
  readonly clock = new ManualClock();
  functions: FunctionResource[] = [];
  readonly deployments = new Map<string, { replicas: number; ready: number }>();
  readonly concurrency = new Map<string, number>();
  readonly writes: [string, number][] = [];
  readonly changes: [string, string][] = [];
  failWrites = false;
  readonly autoscaler: ClusterAutoscaler;

  constructor(tuning: Partial<AutoscalerTuning> = {}) {
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
          if (this.failWrites) throw new Error('the API server is away');
          this.writes.push([`${namespace}/${name}`, replicas]);
        },
      },
      tuning,
      (key, reason) => this.changes.push([key, reason]),
      this.clock,
      quiet,
    );
  }

  /** Runs `n` ticks, one second apart. */
  ticks(n: number): void {
    for (let i = 0; i < n; i++) this.clock.advance(TICK_MS);
  }
}

describe('ClusterAutoscaler: the leader’s loop around the decider', () => {
  it('a Function seen first, with no Deployment yet, gets its initial scale; min above it wins', () => {
    const world = new World();
    assert.equal(world.autoscaler.replicasFor(fn('a')), 1);
    assert.equal(world.autoscaler.replicasFor(fn('b', { min: 3, max: 5 })), 3);
    const none = new World({ initialScale: 0 });
    assert.equal(none.autoscaler.replicasFor(fn('c')), 0);
  });

  it('a new leader resumes from what runs: a function at zero stays at zero, a busy one is not shrunk', () => {
    const world = new World();
    world.deployments.set('team/idle', { replicas: 0, ready: 0 });
    world.deployments.set('team/busy', { replicas: 4, ready: 4 });
    assert.equal(world.autoscaler.replicasFor(fn('idle')), 0);
    assert.equal(world.autoscaler.replicasFor(fn('busy', { max: 10 })), 4);
    world.functions = [fn('idle'), fn('busy', { max: 10 })];
    world.concurrency.set('team/idle', 0);
    world.concurrency.set('team/busy', 0);
    world.autoscaler.start();
    world.ticks(5);
    assert.deepEqual(world.changes, [], 'no change within the panic hold of a stable window');
  });

  it('ticks only while started, once a second, and scales out from the gateways’ reports', () => {
    const world = new World();
    const f = fn('burst', { target: 1, max: 10 });
    world.functions = [f];
    world.deployments.set('team/burst', { replicas: 1, ready: 1 });
    assert.equal(world.autoscaler.replicasFor(f), 1);
    world.concurrency.set('team/burst', 7);
    world.ticks(3);
    assert.deepEqual(world.changes, [], 'not started: no decisions');
    world.autoscaler.start();
    world.ticks(1);
    // ceil(7 / (1 × 0.7)) = 10, and 10× one ready replica is a panic.
    assert.deepEqual(world.changes, [['team/burst', 'panic']]);
    assert.equal(world.autoscaler.replicasFor(f), 10);
    world.autoscaler.stop();
    world.ticks(5);
    assert.equal(world.changes.length, 1, 'stopped: no more decisions');
  });

  it('scales an idle min-0 function to zero after scaleToZeroAfter, and not before', () => {
    const world = new World({ stableWindowMs: 6000, panicWindowMs: 1000 });
    const f = fn('idle', { scaleToZeroAfter: '10s' });
    world.functions = [f];
    world.deployments.set('team/idle', { replicas: 1, ready: 1 });
    world.concurrency.set('team/idle', 0);
    world.autoscaler.start();
    world.ticks(9);
    assert.deepEqual(world.changes, []);
    assert.equal(world.autoscaler.replicasFor(f), 1);
    world.ticks(2);
    assert.deepEqual(world.changes, [['team/idle', 'scale-to-zero']]);
    assert.equal(world.autoscaler.replicasFor(f), 0);
  });

  it('no report names a function: its replicas hold (missing data never scales down)', () => {
    const world = new World({ stableWindowMs: 6000, panicWindowMs: 1000 });
    const f = fn('quiet', { scaleToZeroAfter: '2s' });
    world.functions = [f];
    world.deployments.set('team/quiet', { replicas: 1, ready: 1 });
    world.autoscaler.start();
    world.ticks(30);
    assert.deepEqual(world.changes, []);
    assert.equal(world.autoscaler.replicasFor(f), 1);
  });

  it('a wake at zero writes the scale at once (no tick) and asks for a reconcile', async () => {
    const world = new World();
    const f = fn('sleepy');
    world.functions = [f];
    world.deployments.set('team/sleepy', { replicas: 0, ready: 0 });
    world.autoscaler.start();
    assert.equal(world.autoscaler.replicasFor(f), 0);
    const { outcome } = await world.autoscaler.wake(f, 3);
    assert.deepEqual(outcome, { outcome: 'raised', replicas: 1 });
    assert.deepEqual(world.writes, [['team/sleepy', 1]]);
    assert.deepEqual(world.changes, [['team/sleepy', 'wake']]);
    assert.equal(world.clock.now(), 0, 'no time passed: the wake did not wait for a tick');
  });

  it('a second wake while the Deployment already asks for enough writes nothing', async () => {
    const world = new World();
    const f = fn('sleepy');
    world.deployments.set('team/sleepy', { replicas: 0, ready: 0 });
    await world.autoscaler.wake(f, 1);
    world.deployments.set('team/sleepy', { replicas: 1, ready: 0 });
    const { outcome: again } = await world.autoscaler.wake(f, 2);
    assert.deepEqual(again, { outcome: 'unchanged', replicas: 1 });
    assert.equal(world.writes.length, 1);
  });

  it('a wake before the Deployment exists leaves the raising to the reconcile that creates it', async () => {
    const world = new World({ initialScale: 0 });
    const f = fn('new');
    assert.equal(world.autoscaler.replicasFor(f), 0);
    const { outcome } = await world.autoscaler.wake(f, 1);
    assert.deepEqual(outcome, { outcome: 'unchanged', replicas: 1 });
    assert.deepEqual(world.writes, []);
    assert.equal(world.autoscaler.replicasFor(f), 1, 'the reconcile now asks for one');
  });

  it('a wake for an unknown Function is not-found; a failed scale write rejects', async () => {
    const world = new World();
    assert.deepEqual((await world.autoscaler.wake(undefined, 1)).outcome, { outcome: 'not-found' });
    world.deployments.set('team/x', { replicas: 0, ready: 0 });
    world.failWrites = true;
    await assert.rejects(world.autoscaler.wake(fn('x'), 1), /the API server is away/);
  });

  it('an edited spec.scale applies at the next decision; a deleted Function is forgotten', () => {
    const world = new World();
    world.deployments.set('team/f', { replicas: 2, ready: 2 });
    world.functions = [fn('f', { min: 0, max: 10 })];
    world.concurrency.set('team/f', 1);
    world.autoscaler.start();
    world.ticks(1);
    world.functions = [fn('f', { min: 5, max: 10 }, 2)];
    world.ticks(1);
    assert.deepEqual(world.changes.at(-1), ['team/f', 'bounded-by-min']);
    assert.equal(world.autoscaler.replicasFor(fn('f', { min: 5, max: 10 }, 2)), 5);
    world.functions = [];
    world.ticks(1);
    world.deployments.set('team/f', { replicas: 0, ready: 0 });
    assert.equal(world.autoscaler.replicasFor(fn('f')), 0, 'seen afresh: resumed from what runs');
  });
});
