import { API_VERSION, type FunctionResource, KIND, type Logger, type TriggerStatus } from '@nimbus/api';
import { type Clock, isVersioned } from '@nimbus/api';
import { ROUTES_CONDITION } from '@nimbus/api/route-claims';
import {
  KubeApiError,
  type KubeClient,
  type KubeObject,
  RESOURCES,
  type ResourceType,
  isConflict,
  isNotFound,
  splitKey,
} from '@nimbus/kube';
import type { EventSink } from '../events/event-recorder.js';
import type { DeploymentSettings } from '../resources/deployment.js';
import { sourceConfigMapName } from '../resources/source-configmap.js';
import { ROLLED_OUT_CONDITION, type TrafficPlanner } from '../rollout/rollout-port.js';
import { SECRETS_CONDITION, type SecretMounts, secretsVerdict } from '../secrets/secret-opt-in.js';
import { RETAINED_CONDITION } from '../state/state-retention.js';
import { staticTrafficPlanner } from '../versions/static-traffic.js';
import { type ListableCache, VersionSync, type VersionSyncResult } from '../versions/version-sync.js';
import { versionedVerdicts } from '../versions/versioned-status.js';
import type { ControllerMetrics } from './controller-metrics.js';
import { type DesiredObjects, NotDeployableError, desiredObjects } from './desired-objects.js';
import { firstDifference } from './drift.js';
import { LOADED_CONDITION, type LoadCheck, type LoadFailures, readyForLoadFailure } from './load-failure.js';
import { claimNames } from './name-claims.js';
import type { FunctionCleanup, ObjectCache } from './object-cache.js';
import type {
  ReconcileResult,
  ReplicaSource,
  SecretGate,
  StatePreparation,
  StateProvisioner,
  TriggerStatusSource,
} from './reconcile-ports.js';
import {
  type ApplyOutcome,
  type ObservedDeployment,
  TRIGGERS_CONDITION,
  type Verdict,
  type VersionedStatus,
  computeStatus,
  sameStatus,
} from './status.js';

export const FIELD_MANAGER = 'nimbus-controller';
export const FINALIZER = 'nimbus.dev/cleanup';

export interface ReconcilerSettings extends DeploymentSettings {}

export interface ReconcilerCaches {
  functions: ObjectCache<FunctionResource & KubeObject>;
  /** Listed too: a versioned Function's version Deployments are found by their labels. */
  deployments: ListableCache;
  services: ObjectCache<KubeObject>;
  configMaps: ObjectCache<KubeObject>;
  /** Only when the platform makes NetworkPolicies. */
  networkPolicies?: ObjectCache<KubeObject>;
}

type Fn = FunctionResource & KubeObject;

export * from './reconcile-ports.js';

/**
 * Brings one Function's objects and status in line with its spec. Called with one key at a
 * time per key (the work queue sees to that). A failure that may pass (the API server away, a
 * conflict) is thrown, so the key comes back with backoff; a spec the cluster cannot run is
 * reported on the Function's status and in an Event, and waits for the spec to change.
 */
export class FunctionReconciler {
  /** The versioned half of a reconcile, for a Function with spec.versions. */
  private readonly versions: VersionSync;

  constructor(
    private readonly client: KubeClient,
    private readonly caches: ReconcilerCaches,
    private readonly settings: ReconcilerSettings,
    private readonly events: EventSink,
    private readonly cleanups: readonly FunctionCleanup[],
    private readonly state: StateProvisioner,
    private readonly secrets: SecretGate,
    private readonly scale: ReplicaSource,
    private readonly metrics: ControllerMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Reads a load error from an unready pod; without it, status says only that pods are not ready. */
    private readonly loads?: LoadFailures,
    private readonly triggers?: TriggerStatusSource,
    /** RoutesReady for a Function with routes (route-conflicts.ts); undefined leaves it out. */
    private readonly routes?: (fn: FunctionResource) => Verdict | undefined,
    /** How versioned Functions' calls are shared; without one, spec.traffic or all to the latest. */
    planner: TrafficPlanner = staticTrafficPlanner,
  ) {
    const apply = this.applyIfChanged.bind(this);
    this.versions = new VersionSync(client, caches, scale, planner, apply, FIELD_MANAGER, log, events);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    try {
      return await this.reconcileFunction(namespace, name, this.caches.functions.get(namespace, name));
    } catch (err) {
      if (!(err instanceof StaleReadError)) throw err;
      // The cache had not yet seen the Function's last write: once more, as the server has it. A
      // second conflict (a write in between) fails the reconcile, which is retried with backoff.
      const fresh = await this.client
        .get<Fn>(RESOURCES.functions, namespace, name)
        .catch((getErr: unknown) => (isNotFound(getErr) ? undefined : Promise.reject(getErr)));
      return this.reconcileFunction(namespace, name, fresh, false);
    }
  }

  /** `staleReadCanRetry`: a status write refused as stale throws StaleReadError rather than the conflict. */
  private async reconcileFunction(
    namespace: string,
    name: string,
    read: Fn | undefined,
    staleReadCanRetry = true,
  ): Promise<ReconcileResult> {
    let fn = read;
    // Gone: owner references let garbage collection remove what was made for it.
    if (fn === undefined) {
      this.loads?.forget(namespace, name);
      return {};
    }
    if (fn.metadata.deletionTimestamp !== undefined) {
      await this.finalize(fn);
      return {};
    }
    if (this.needsFinalizer(fn) && !fn.metadata.finalizers?.includes(FINALIZER)) {
      fn = await this.addFinalizer(fn);
      if (fn === undefined) return {};
    }

    let outcome: ApplyOutcome = { ok: true };
    let deployment: ObservedDeployment | undefined = this.caches.deployments.get(namespace, name) as
      | ObservedDeployment
      | undefined;
    let state: StatePreparation = {};
    let secrets: SecretMounts = { mounted: [], refused: [] };
    const versioned = isVersioned(fn.spec);
    let versions: VersionSyncResult | undefined;
    try {
      state = await this.state.prepare(fn);
      secrets = await this.secrets.check(fn);
      // A versioned Function's replicas are asked per version (version-sync.ts); these are not applied.
      const replicas = versioned ? 0 : this.scale.replicasFor(fn);
      const desired = desiredObjects(fn, this.settings, replicas, state.binding, secrets.mounted);
      // Before the Deployment, so its pods are never up without it.
      await this.syncNetworkPolicy(fn, desired.networkPolicy);
      if (versioned) {
        versions = await this.versions.sync(fn, desired, this.clock.now());
        deployment = versions.deployments.get(versions.latest);
      } else {
        deployment = await this.applyUnversioned(fn, desired);
      }
    } catch (err) {
      if (err instanceof NotDeployableError) {
        outcome = { ok: false, reason: err.reason, message: err.message };
      } else if (err instanceof KubeApiError && (err.code === 400 || err.code === 422)) {
        // The API server refused what the Function asks for (a malformed quantity, say): the
        // same apply would be refused again, so it waits for the spec to change.
        outcome = { ok: false, reason: 'ApplyRefused', message: err.message };
      } else if (isNotFound(err)) {
        // The namespace is going away, or the Function was deleted meanwhile.
        return {};
      } else {
        this.events.emit(fn, 'Warning', 'ApplyFailed', errorMessage(err));
        throw err;
      }
      this.events.emit(fn, 'Warning', outcome.reason, outcome.message);
    }
    const { condition } = state;
    if (condition?.status === 'False') this.events.emit(fn, 'Warning', condition.reason, condition.message);
    for (const refused of secrets.refused) this.events.emit(fn, 'Warning', refused.reason, refused.message);
    const load = outcome.ok ? await this.checkLoad(fn, deployment) : {};
    const triggers = this.triggers?.(fn);
    const loadReady =
      load.failure === undefined ? undefined : readyForLoadFailure(load.failure, this.settings.errorDetail);
    const plan = versions?.plan;
    if (plan?.event) this.events.emit(fn, plan.event.type, plan.event.reason, plan.event.message);
    const ofVersions = versioned ? versionedVerdicts(fn, versions, outcome, loadReady) : undefined;
    const written = await this.writeStatus(
      fn,
      staleReadCanRetry,
      outcome,
      deployment,
      condition,
      [
        [RETAINED_CONDITION, state.retained],
        [SECRETS_CONDITION, secretsVerdict(fn.spec.secrets ?? [], secrets)],
        [LOADED_CONDITION, load.failure],
        [TRIGGERS_CONDITION, triggers?.verdict],
        [ROUTES_CONDITION, this.routes?.(fn)],
        [ROLLED_OUT_CONDITION, ofVersions?.rolledOut],
      ],
      ofVersions?.ready ?? loadReady,
      triggers?.triggers,
      ofVersions?.status,
    );
    if (written === 'gone') {
      // Deleted meanwhile: nothing to look at again.
      this.loads?.forget(namespace, name);
      return {};
    }
    // Once status.traffic names the versions, so gateways move to them before the plain objects go.
    if (versions !== undefined) await this.versions.removePlain(fn);
    if (state.retry !== undefined) throw state.retry;
    const requeue = [state.requeueAfterMs, load.requeueAfterMs, plan?.requeueAfterMs].filter(
      (ms) => ms !== undefined,
    );
    return requeue.length === 0 ? {} : { requeueAfterMs: Math.min(...requeue) };
  }

  /** A Function without spec.versions: its ConfigMap, Deployment and Service named like it. */
  private async applyUnversioned(fn: Fn, desired: DesiredObjects): Promise<ObservedDeployment> {
    claimNames(fn, desired, this.caches);
    if (desired.configMap !== undefined)
      await this.applyIfChanged(RESOURCES.configMaps, this.caches.configMaps, desired.configMap);
    const deployment = await this.applyIfChanged(
      RESOURCES.deployments,
      this.caches.deployments,
      desired.deployment,
    );
    await this.applyIfChanged(RESOURCES.services, this.caches.services, desired.service);
    if (desired.configMap === undefined) await this.deleteStaleSource(fn);
    // Versions turned off: the versions' objects go, the plain ones above took over.
    if (fn.status?.latestVersion !== undefined) await this.versions.removeAllVersions(fn);
    return deployment as ObservedDeployment;
  }

  /**
   * Why the pods are not ready, when it is the handler: an Event once per new error (the
   * condition says it for as long as it stands). Best effort: pods that cannot be listed leave
   * the status as the Deployment tells it.
   */
  private async checkLoad(fn: Fn, deployment: ObservedDeployment | undefined): Promise<LoadCheck> {
    if (this.loads === undefined) return {};
    let load: LoadCheck;
    try {
      load = await this.loads.check(fn, deployment);
    } catch (err) {
      this.log.warn('could not look at a function’s pods for a load error', {
        function: `${fn.metadata.namespace}/${fn.metadata.name}`,
        err,
      });
      return {};
    }
    const before = fn.status?.conditions?.find((c) => c.type === LOADED_CONDITION);
    const { failure } = load;
    if (failure !== undefined && before?.message !== failure.message)
      this.events.emit(fn, 'Warning', failure.reason, failure.message);
    return load;
  }

  /** Applies `desired` unless every field Nimbus sets already holds its value; returns the object as stored. */
  private async applyIfChanged(
    resource: ResourceType,
    cache: ObjectCache<KubeObject>,
    desired: KubeObject,
  ): Promise<KubeObject> {
    const { namespace = '', name = '' } = desired.metadata;
    const observed = cache.get(namespace, name);
    const { apiVersion: _, kind: __, ...content } = desired;
    const difference = observed === undefined ? 'the whole object' : firstDifference(content, observed);
    if (difference === undefined) return observed as KubeObject;
    this.log.debug('applying', { kind: resource.kind, namespace, name, difference });
    this.metrics.applies.inc({ kind: resource.kind });
    return this.client.apply(resource, desired, FIELD_MANAGER);
  }

  /** Applies the Function's NetworkPolicy, or removes the one it had when policies were turned off. */
  private async syncNetworkPolicy(fn: Fn, desired: KubeObject | undefined): Promise<void> {
    const cache = this.caches.networkPolicies;
    if (cache === undefined) return;
    if (desired !== undefined) {
      await this.applyIfChanged(RESOURCES.networkPolicies, cache, desired);
      return;
    }
    const stale = cache.get(fn.metadata.namespace, fn.metadata.name);
    if (stale === undefined || !ownedBy(stale, fn)) return;
    await this.client
      .delete(RESOURCES.networkPolicies, fn.metadata.namespace, fn.metadata.name, { uid: stale.metadata.uid })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }

  /** The source ConfigMap of a Function that now runs an image. */
  private async deleteStaleSource(fn: Fn): Promise<void> {
    const stale = this.caches.configMaps.get(fn.metadata.namespace, sourceConfigMapName(fn));
    if (stale === undefined || !ownedBy(stale, fn)) return;
    await this.client
      .delete(RESOURCES.configMaps, fn.metadata.namespace, sourceConfigMapName(fn), {
        uid: stale.metadata.uid,
      })
      .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
  }

  private async writeStatus(
    fn: Fn,
    staleReadCanRetry: boolean,
    outcome: ApplyOutcome,
    deployment: ObservedDeployment | undefined,
    state: Verdict | undefined,
    more: readonly (readonly [string, Verdict | undefined])[],
    ready?: Verdict,
    triggers?: TriggerStatus[],
    versioned?: VersionedStatus,
  ): Promise<'written' | 'unchanged' | 'gone'> {
    const status = computeStatus(
      fn,
      outcome,
      deployment,
      this.settings.gatewayUrl,
      new Date(this.clock.now()),
      state,
      more,
      ready,
      triggers,
      versioned,
    );
    if (sameStatus(fn.status, status)) return 'unchanged';
    try {
      await this.client.apply(
        RESOURCES.functions,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          // Conditional on the version it was computed from: a status computed from a cache that
          // had not yet seen the last write would put back what that write replaced (a
          // condition's lastTransitionTime, which state retention counts from). The server
          // refuses it with 409 and the reconcile runs again on fresh data.
          metadata: {
            name: fn.metadata.name,
            namespace: fn.metadata.namespace,
            ...(fn.metadata.resourceVersion === undefined
              ? {}
              : { resourceVersion: fn.metadata.resourceVersion }),
          },
          status,
        } as KubeObject,
        FIELD_MANAGER,
        { subresource: 'status' },
      );
      return 'written';
    } catch (err) {
      if (isNotFound(err)) return 'gone';
      if (staleReadCanRetry && isConflict(err)) throw new StaleReadError();
      throw err;
    }
  }

  private needsFinalizer(fn: Fn): boolean {
    return this.cleanups.some((c) => c.appliesTo(fn));
  }

  private async addFinalizer(fn: Fn): Promise<Fn | undefined> {
    const finalizers = fn.metadata.finalizers;
    try {
      return await this.client.jsonPatch<Fn>(RESOURCES.functions, fn.metadata.namespace, fn.metadata.name, [
        { op: 'test', path: '/metadata/resourceVersion', value: fn.metadata.resourceVersion },
        finalizers === undefined
          ? { op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }
          : { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER },
      ]);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Deletion asked for: clean up what garbage collection cannot reach, then let the Function go. */
  private async finalize(fn: Fn): Promise<void> {
    const finalizers = fn.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return;
    for (const cleanup of this.cleanups) {
      if (!cleanup.appliesTo(fn)) continue;
      try {
        await cleanup.cleanup(fn);
      } catch (err) {
        this.events.emit(fn, 'Warning', 'CleanupFailed', `${cleanup.name}: ${errorMessage(err)}`);
        throw new Error(`cleanup ${cleanup.name} of ${fn.metadata.namespace}/${fn.metadata.name} failed`, {
          cause: err,
        });
      }
    }
    try {
      // Conditional on the list as read, so a finalizer another controller added meanwhile stays.
      await this.client.jsonPatch(RESOURCES.functions, fn.metadata.namespace, fn.metadata.name, [
        { op: 'test', path: '/metadata/finalizers', value: finalizers },
        { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== FINALIZER) },
      ]);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }
}

function ownedBy(object: KubeObject, fn: Fn): boolean {
  return (object.metadata.ownerReferences ?? []).some((o) => o.kind === KIND && o.uid === fn.metadata.uid);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A status computed from a cached Function older than the server's copy: refused, to be done again. */
class StaleReadError extends Error {
  constructor() {
    super('the Function changed since the cache read it; its status was not written');
    this.name = 'StaleReadError';
  }
}
