import type { FunctionResource, Logger } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isNotFound } from '@nimbus/kube';
import type { ControllerMetrics } from '../reconcile/controller-metrics.js';
import { firstDifference } from '../reconcile/drift.js';
import { FIELD_MANAGER } from '../reconcile/function-reconciler.js';
import type { ObjectCache } from '../reconcile/object-cache.js';
import type { DeploymentSettings } from '../resources/deployment.js';
import { poolDeploymentName } from '../resources/metadata.js';
import { buildPoolNetworkPolicy } from '../resources/network-policy.js';
import { buildPoolDeployment, poolable } from '../resources/pool.js';
import type { PoolKeys } from './pool-keys.js';

/** A function at zero that a pool pod could wake: the reason a namespace keeps a pool. */
export const wantsPool = (fn: FunctionResource): boolean =>
  fn.spec.scale.min === 0 && poolable(fn) && fn.metadata.deletionTimestamp === undefined;

/**
 * Keeps one warm pool per namespace that has a poolable function with `scale.min: 0`, and none
 * elsewhere: its pool key's Secret first (the pods mount it), then its Deployment. Both go when
 * the pool does.
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
    /** NetworkPolicies Nimbus made; the pool's own is kept beside its Deployment. */
    private readonly networkPolicies?: ObjectCache<KubeObject>,
  ) {}

  async reconcile(namespace: string): Promise<void> {
    const observed = this.deployments.get(namespace, poolDeploymentName());
    const wanted =
      this.size > 0 &&
      [...this.functions.list()].some((fn) => fn.metadata.namespace === namespace && wantsPool(fn));
    await this.syncNetworkPolicy(namespace, wanted);
    if (!wanted) {
      if (observed === undefined) return;
      this.log.info('removing the warm pool: no function at zero here', { namespace });
      await this.client
        .delete(RESOURCES.deployments, namespace, poolDeploymentName(), { uid: observed.metadata.uid })
        .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
      await this.keys.remove(namespace);
      return;
    }
    const status = (observed as { status?: { replicas?: number; readyReplicas?: number } } | undefined)
      ?.status;
    await this.keys.ensure(namespace, (status?.readyReplicas ?? 0) < this.size);
    const desired = buildPoolDeployment(namespace, this.settings, this.size);
    const { apiVersion: _, kind: __, ...content } = desired;
    if (observed !== undefined && firstDifference(content, observed) === undefined) return;
    this.metrics.applies.inc({ kind: 'Deployment' });
    await this.client.apply(RESOURCES.deployments, desired, FIELD_MANAGER);
  }

  /**
   * The pool's NetworkPolicy: applied before its pods exist, so a generic pod is never reachable by
   * anyone but the controller; removed with the pool, or when the platform makes no policies.
   */
  private async syncNetworkPolicy(namespace: string, wanted: boolean): Promise<void> {
    if (this.networkPolicies === undefined) return;
    const observed = this.networkPolicies.get(namespace, poolDeploymentName());
    const ingress = this.settings.functionIngress;
    if (wanted && ingress !== undefined) {
      const desired = buildPoolNetworkPolicy(namespace, ingress);
      const { apiVersion: _, kind: __, ...content } = desired;
      if (observed !== undefined && firstDifference(content, observed) === undefined) return;
      this.metrics.applies.inc({ kind: 'NetworkPolicy' });
      await this.client.apply(RESOURCES.networkPolicies, desired, FIELD_MANAGER);
      return;
    }
    if (observed === undefined) return;
    await this.client
      .delete(RESOURCES.networkPolicies, namespace, poolDeploymentName(), { uid: observed.metadata.uid })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }
}
