import type { FunctionResource, Logger, RolloutStatus, TrafficStatus } from '@nimbus/api';
import {
  type KubeClient,
  type KubeObject,
  RESOURCES,
  type ResourceType,
  isConflict,
  isNotFound,
} from '@nimbus/kube';
import type { EventSink } from '../events/event-recorder.js';
import type { DesiredObjects } from '../reconcile/desired-objects.js';
import { claimNames } from '../reconcile/name-claims.js';
import type { ObjectCache } from '../reconcile/object-cache.js';
import type { ReplicaSource } from '../reconcile/reconcile-ports.js';
import type { ObservedDeployment, Verdict } from '../reconcile/status.js';
import { SPEC_HASH_ANNOTATION } from '../resources/metadata.js';
import { sourceConfigMapName } from '../resources/source-configmap.js';
import type { TrafficPlan, TrafficPlanner } from '../rollout/rollout-port.js';
import { missingTrafficVersion } from './static-traffic.js';
import { type VersionHistory, observeRevision, pruneVersions } from './version-history.js';
import {
  buildVersionObjects,
  checkVersionedName,
  historyOf,
  neededVersions,
  revisionOf,
  versionDeploymentsOf,
  versionSourceName,
} from './versioned-objects.js';

/** A cache of Deployments that can also be listed: a Function's versions are found by their labels. */
export interface ListableCache extends ObjectCache<KubeObject> {
  list(): readonly KubeObject[];
}

export interface VersionCaches {
  deployments: ListableCache;
  services: ObjectCache<KubeObject>;
  configMaps: ObjectCache<KubeObject>;
}

/** Applies `desired` unless the cache already holds it (the reconciler's applyIfChanged). */
export type ApplyIfChanged = (
  resource: ResourceType,
  cache: ObjectCache<KubeObject>,
  desired: KubeObject,
) => Promise<KubeObject>;

/** What one sync of a versioned Function came to: what its status says. */
export interface VersionSyncResult {
  latest: string;
  /** The kept versions, newest first. */
  history: VersionHistory;
  /** Each kept version's Deployment as last seen or written. */
  deployments: Map<string, ObservedDeployment>;
  /** status.traffic: the plan's, or the previous one while spec.traffic names a version not kept. */
  traffic: TrafficStatus[];
  rollout?: RolloutStatus;
  /** The planner's answer; undefined when spec.traffic names a version not kept. */
  plan?: TrafficPlan;
  /** Ready's verdict when spec.traffic names a version not kept (reason TrafficVersionNotFound). */
  trafficNotFound?: Verdict;
}

/**
 * The versioned half of a Function's reconcile: finds its versions, makes the one its spec now
 * describes, scales each, plans its traffic and prunes what is no longer kept. A version's
 * Deployment is made once and only its replicas are changed afterwards.
 */
export class VersionSync {
  constructor(
    private readonly client: KubeClient,
    private readonly caches: VersionCaches,
    private readonly scale: ReplicaSource,
    private readonly planner: TrafficPlanner,
    private readonly apply: ApplyIfChanged,
    private readonly fieldManager: string,
    private readonly log: Logger,
    /** A version made or pruned is worth an Event on the Function. */
    private readonly events?: EventSink,
  ) {}

  /** Throws NotDeployableError for a name too long for versions; Kubernetes' refusals as they come. */
  async sync(fn: FunctionResource, desired: DesiredObjects, now: number): Promise<VersionSyncResult> {
    checkVersionedName(fn);
    const found = versionDeploymentsOf(fn, this.caches.deployments.list());
    const stamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    const observed = observeRevision(historyOf(fn, found), revisionOf(desired), stamp);
    const latest = observed.latest as string;
    // A version whose Deployment is gone cannot be made again from today's spec, unless it is the latest.
    const history: VersionHistory = {
      ...observed,
      versions: observed.versions.filter((v) => found.has(v.name) || v.name === latest),
    };
    const names = history.versions.map((v) => v.name);
    const missing = missingTrafficVersion(fn, latest, names);
    let plan: TrafficPlan | undefined;
    let traffic: TrafficStatus[];
    if (missing === undefined) {
      plan = this.planner.plan(fn, latest, names, now);
      traffic = plan.traffic;
    } else {
      // Never pointing at nothing: what gateways serve now stays until the spec names kept versions.
      traffic = fn.status?.traffic ?? [{ version: latest, percent: 100 }];
    }
    const rollout = plan === undefined ? fn.status?.rollout : plan.rollout;
    const { history: kept, removed } = pruneVersions(
      history,
      fn.spec.versions?.keep ?? 5,
      neededVersions(history, traffic, rollout),
    );
    const deployments = new Map<string, ObservedDeployment>();
    const createdAt = new Map<string, string>();
    // Replicas as the traffic about to be written asks: a new candidate gets its share's minimum now,
    // not at the autoscaler's next tick.
    const planned: FunctionResource = { ...fn, status: { ...fn.status, traffic } };
    for (const version of kept.versions) {
      const objects = buildVersionObjects(
        desired,
        version.name,
        this.scale.replicasFor(planned, version.name),
      );
      claimNames(fn, objects, this.caches);
      const current = found.get(version.name);
      let deployment: KubeObject | undefined;
      if (version.name === latest) {
        if (objects.configMap !== undefined)
          await this.apply(RESOURCES.configMaps, this.caches.configMaps, objects.configMap);
        if (current === undefined) {
          deployment = await this.create(objects.deployment, version.revision);
          this.emit(fn, 'VersionCreated', `version ${version.name} runs revision ${version.revision}`);
        } else deployment = await this.scaleTo(current, objects.deployment.spec.replicas);
      } else if (current !== undefined) {
        deployment = await this.scaleTo(current, objects.deployment.spec.replicas);
      }
      // A version's Service depends on nothing of the spec, so any kept version's can be put back.
      if (deployment !== undefined) {
        await this.apply(RESOURCES.services, this.caches.services, objects.service);
        deployments.set(version.name, deployment as ObservedDeployment);
        const created = deployment.metadata.creationTimestamp;
        if (created !== undefined) createdAt.set(version.name, created);
      }
    }
    for (const version of removed) {
      await this.removeVersion(fn, version.name);
      this.emit(
        fn,
        'VersionPruned',
        `version ${version.name} removed: more than spec.versions.keep, and nothing needs it`,
      );
    }
    return {
      latest,
      // A version just made: when the API server says it was, as every later reconcile reads it.
      history: {
        ...kept,
        versions: kept.versions.map((v) => ({ ...v, createdAt: createdAt.get(v.name) ?? v.createdAt })),
      },
      deployments,
      traffic,
      ...(rollout === undefined ? {} : { rollout }),
      ...(plan === undefined ? {} : { plan }),
      ...(missing === undefined
        ? {}
        : { trafficNotFound: { status: 'False', reason: 'TrafficVersionNotFound', message: missing } }),
    };
  }

  /** The unversioned Deployment, Service and source ConfigMap of a Function that turned versions on. */
  async removePlain(fn: FunctionResource): Promise<void> {
    const { name } = fn.metadata;
    await this.deleteOwned(fn, RESOURCES.deployments, this.caches.deployments, name);
    await this.deleteOwned(fn, RESOURCES.services, this.caches.services, name);
    await this.deleteOwned(fn, RESOURCES.configMaps, this.caches.configMaps, sourceConfigMapName(fn));
  }

  /** Every version's objects, of a Function that turned versions off. */
  async removeAllVersions(fn: FunctionResource): Promise<void> {
    for (const version of versionDeploymentsOf(fn, this.caches.deployments.list()).keys())
      await this.removeVersion(fn, version);
  }

  private async removeVersion(fn: FunctionResource, version: string): Promise<void> {
    this.log.info('removing a version no longer kept', {
      function: `${fn.metadata.namespace}/${fn.metadata.name}`,
      version,
    });
    const name = `${fn.metadata.name}-${version}`;
    await this.deleteOwned(fn, RESOURCES.deployments, this.caches.deployments, name);
    await this.deleteOwned(fn, RESOURCES.services, this.caches.services, name);
    await this.deleteOwned(
      fn,
      RESOURCES.configMaps,
      this.caches.configMaps,
      versionSourceName(fn.metadata.name, version),
    );
  }

  private emit(fn: FunctionResource, reason: string, message: string): void {
    this.events?.emit(fn as FunctionResource & KubeObject, 'Normal', reason, message);
  }

  /** Deletes what the cache shows the Function owns by that name; anything else is left alone. */
  private async deleteOwned(
    fn: FunctionResource,
    resource: ResourceType,
    cache: ObjectCache<KubeObject>,
    name: string,
  ): Promise<void> {
    const object = cache.get(fn.metadata.namespace, name);
    if (
      object === undefined ||
      !(object.metadata.ownerReferences ?? []).some((o) => o.uid === fn.metadata.uid)
    )
      return;
    await this.client
      .delete(resource, fn.metadata.namespace, name, { uid: object.metadata.uid })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }

  /**
   * Creates a version's Deployment: create, never apply, so a name already taken is never
   * overwritten. One the cache had not seen yet is taken as it is if it runs the same revision.
   */
  private async create(deployment: KubeObject, revision: string): Promise<KubeObject> {
    const { namespace = '', name = '' } = deployment.metadata;
    try {
      return await this.client.create(RESOURCES.deployments, deployment);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const existing = await this.client.get(RESOURCES.deployments, namespace, name);
      if (existing.metadata.annotations?.[SPEC_HASH_ANNOTATION] === revision) return existing;
      throw new Error(
        `Deployment ${namespace}/${name} exists with another revision; its version is not remade`,
        {
          cause: err,
        },
      );
    }
  }

  /** A version's replicas, the one field of its Deployment ever changed. */
  private async scaleTo(current: KubeObject, replicas: number): Promise<KubeObject> {
    const observed = current as ObservedDeployment & KubeObject;
    if (observed.spec?.replicas === replicas) return current;
    const { namespace = '', name = '' } = current.metadata;
    return this.client.mergePatch(
      RESOURCES.deployments,
      namespace,
      name,
      { spec: { replicas } },
      undefined,
      this.fieldManager,
    );
  }
}
