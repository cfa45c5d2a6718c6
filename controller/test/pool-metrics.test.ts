import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import type { KubeClient } from '@nimbus/kube';
import { ManualClock } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import type { EventSink } from '../src/events/event-recorder.js';
import type { PoolKeys } from '../src/pool/pool-keys.js';
import { type Pod, PoolPods } from '../src/pool/pool-pods.js';
import { ControllerMetrics } from '../src/reconcile/controller-metrics.js';
import type { DeploymentSettings } from '../src/resources/deployment.js';
import { ADOPTED_LABEL, FUNCTION_LABEL, POOL_LABEL } from '../src/resources/metadata.js';

function pod(name: string, namespace: string, labels: Record<string, string>, ready: boolean): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: `uid-${name}`, labels },
    status: {
      podIP: '10.0.0.1',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

function fn(runtime: string): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'cold', namespace: 'team', generation: 1 },
    spec: { runtime, source: { inline: 'export default () => 1' }, scale: { min: 0 } },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/**
 * The warm pools as Prometheus sees them. The pods are what the informer lists; the takeovers
 * counted here find no ready pod, so no collaborator beyond the pod list is ever called (they
 * are left empty on purpose: a call would throw).
 */
describe('warm-pool metrics', () => {
  const registry = new Registry();
  const metrics = new ControllerMetrics(registry);
  const pods: Pod[] = [];
  const pool = new PoolPods(
    {} as KubeClient,
    { list: () => pods },
    {} as PoolKeys,
    {} as DeploymentSettings,
    new ManualClock(),
    createLogger({}, 'error', () => {}),
    metrics,
    {} as EventSink,
  );
  const value = async (name: string, labels: Record<string, string>) => {
    const family = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const matches = (family?.values ?? []).filter((v) =>
      Object.entries(labels).every(([k, want]) => v.labels[k] === want),
    );
    return matches.length === 0 ? undefined : matches.reduce((sum, v) => sum + v.value, 0);
  };

  it('counts each pool’s generic pods by state, with a zero for a state it has none in', async () => {
    pods.push(
      pod('p1', 'team', { [POOL_LABEL]: 'node20' }, true),
      pod('p2', 'team', { [POOL_LABEL]: 'node20' }, false),
      pod('p3', 'team', { [POOL_LABEL]: 'node20' }, true),
      pod('q1', 'other', { [POOL_LABEL]: 'python3.11' }, false),
      // Taken over by a function: no longer the pool's.
      pod('f1', 'team', { [ADOPTED_LABEL]: 'true', [FUNCTION_LABEL]: 'cold' }, true),
    );
    const gauge = 'nimbus_controller_pool_pods';
    assert.equal(await value(gauge, { namespace: 'team', runtime: 'node20', state: 'ready' }), 2);
    assert.equal(await value(gauge, { namespace: 'team', runtime: 'node20', state: 'starting' }), 1);
    assert.equal(await value(gauge, { namespace: 'other', runtime: 'python3.11', state: 'ready' }), 0);
    assert.equal(await value(gauge, { namespace: 'other', runtime: 'python3.11', state: 'starting' }), 1);
    assert.equal(await value(gauge, {}), 4, 'the adopted pod is not counted');
    pods.splice(0);
    assert.equal(await value(gauge, {}), undefined, 'a pool that is gone leaves no series');
  });

  it('counts a wake that found its pool without a ready pod as empty', async () => {
    pods.push(
      pod('p2', 'team', { [POOL_LABEL]: 'node20' }, false),
      pod('q1', 'team', { [POOL_LABEL]: 'python3.11' }, true),
    );
    assert.equal(await pool.adopt(fn('node20')), undefined);
    const counter = 'nimbus_controller_pool_specialisations_total';
    assert.equal(await value(counter, { runtime: 'node20', outcome: 'empty' }), 1);
    assert.equal(await value(counter, { outcome: 'adopted' }), undefined);
  });
});
