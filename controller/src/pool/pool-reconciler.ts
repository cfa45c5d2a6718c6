import type { FunctionResource, Logger } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isNotFound } from '@nimbus/kube';
import type { ControllerMetrics } from '../reconcile/controller-metrics.js';
import { firstDifference } from '../reconcile/drift.js';
import { FIELD_MANAGER } from '../reconcile/function-reconciler.js';
import type { ObjectCache } from '../reconcile/object-cache.js';
import type { DeploymentSettings } from '../resources/deployment.js';
import { POOL_RUNTIMES, type PoolRuntime, isPoolRuntime, poolDeploymentName } from '../resources/metadata.js';
import { buildPoolNetworkPolicy } from '../resources/network-policy.js';
import { buildPoolDeployment, poolable } from '../resources/pool.js';
import { type RuntimeImages, runtimeImageOf } from '../resources/runtime-image.js';
import type { PoolKeys } from './pool-keys.js';

/**
 * A function at zero that a pool pod could wake: the reason a namespace keeps its runtime's pool.
 * A versioned Function counts as its spec says (each version is woken from the pool of its own
 * runtime, which is the spec's for the latest one).
 */
export const wantsPool = (fn: FunctionResource): boolean =>
  fn.spec.scale.min === 0 && poolable(fn) && fn.metadata.deletionTimestamp === undefined;

/**
 * Which runtimes' pools a namespace should have: those with an image in this cluster and a
 * poolable function at zero there. Pure.
 */
export function wantedPools(
  namespace: string,
  functions: Iterable<FunctionResource>,
  images: RuntimeImages,
  size: number,
): Set<PoolRuntime> {
  const wanted = new Set<PoolRuntime>();
  if (size === 0) return wanted;
  for (const fn of functions) {
    const { runtime } = fn.spec;
    if (fn.metadata.namespace !== namespace || !isPoolRuntime(runtime) || !wantsPool(fn)) continue;
    if (runtimeImageOf(runtime, images) !== undefined) wanted.add(runtime);
  }
  return wanted;
}

/**
 * Keeps one warm pool per runtime in each namespace that has a poolable function of that runtime
 * with `scale.min: 0`, and none elsewhere: the namespace's pool key Secret first (the pods of
 * every pool there mount it), then each pool's NetworkPolicy and Deployment. A pool goes when its
 * runtime has no function at zero left; the key goes with the last pool.
 */
export class PoolReconciler {
  constructor(
    private readonly client: KubeClient,
    private readonly keys: PoolKeys,
    private readonly functions: { list(): Iterable<FunctionResource> },
    private readonly deployments: ObjectCache<KubeObject>,
    private readonly settings: DeploymentSettings,
    private readonly size: number,
    private readonly metrics: ControllerMetrics,
    private readonly log: Logger,
    /** NetworkPolicies Nimbus made; each pool's own is kept beside its Deployment. */
    private readonly networkPolicies?: ObjectCache<KubeObject>,
  ) {}

  async reconcile(namespace: string): Promise<void> {
    const wanted = wantedPools(namespace, this.functions.list(), this.settings, this.size);
    let removed = false;
    for (const runtime of POOL_RUNTIMES) {
      await this.syncNetworkPolicy(namespace, runtime, wanted.has(runtime));
      if (!wanted.has(runtime)) removed = (await this.remove(namespace, runtime)) || removed;
    }
    if (wanted.size === 0) {
      // The key goes with the last pool (as seen now: the informer may still list one just deleted).
      if (removed) await this.keys.remove(namespace);
      return;
    }
    const incomplete = [...wanted].some((runtime) => {
      const status = (
        this.observed(namespace, runtime) as { status?: { readyReplicas?: number } } | undefined
      )?.status;
      return (status?.readyReplicas ?? 0) < this.size;
    });
    await this.keys.ensure(namespace, incomplete);
    for (const runtime of wanted) {
      const observed = this.observed(namespace, runtime);
      const desired = buildPoolDeployment(namespace, this.settings, this.size, runtime);
      const { apiVersion: _, kind: __, ...content } = desired;
      if (observed !== undefined && firstDifference(content, observed) === undefined) continue;
      this.metrics.applies.inc({ kind: 'Deployment' });
      await this.client.apply(RESOURCES.deployments, desired, FIELD_MANAGER);
    }
  }

  private observed(namespace: string, runtime: PoolRuntime): KubeObject | undefined {
    return this.deployments.get(namespace, poolDeploymentName(runtime));
  }

  /** Deletes the runtime's pool Deployment if there is one; says whether there was. */
  private async remove(namespace: string, runtime: PoolRuntime): Promise<boolean> {
    const observed = this.observed(namespace, runtime);
    if (observed === undefined) return false;
    this.log.info('removing a warm pool: no function of its runtime at zero here', { namespace, runtime });
    await this.client
      .delete(RESOURCES.deployments, namespace, poolDeploymentName(runtime), { uid: observed.metadata.uid })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
    return true;
  }

  /**
   * A pool's NetworkPolicy: applied before its pods exist, so a generic pod is never reachable by
   * anyone but the controller; removed with the pool, or when the platform makes no policies.
   */
  private async syncNetworkPolicy(namespace: string, runtime: PoolRuntime, wanted: boolean): Promise<void> {
    if (this.networkPolicies === undefined) return;
    const name = poolDeploymentName(runtime);
    const observed = this.networkPolicies.get(namespace, name);
    const ingress = this.settings.functionIngress;
    if (wanted && ingress !== undefined) {
      const desired = buildPoolNetworkPolicy(namespace, ingress, runtime);
      const { apiVersion: _, kind: __, ...content } = desired;
      if (observed !== undefined && firstDifference(content, observed) === undefined) return;
      this.metrics.applies.inc({ kind: 'NetworkPolicy' });
      await this.client.apply(RESOURCES.networkPolicies, desired, FIELD_MANAGER);
      return;
    }
    if (observed === undefined) return;
    await this.client
      .delete(RESOURCES.networkPolicies, namespace, name, { uid: observed.metadata.uid })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }
}
