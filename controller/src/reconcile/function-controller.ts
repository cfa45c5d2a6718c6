import { type FunctionResource, KIND, type Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { splitVersionRoute } from '@nimbus/api/versions';
import {
  type InformerEvent,
  InformerSet,
  type KubeClient,
  type KubeObject,
  RESOURCES,
  apiErrorCode,
  objectKey,
  splitKey,
} from '@nimbus/kube';
import type { Tracing } from '@nimbus/telemetry';
import type { Context } from '@opentelemetry/api';
import {
  ClusterAutoscaler,
  type ConcurrencySource,
  type WakeOutcome,
  type Woken,
} from '../autoscale/cluster-autoscaler.js';
import type { AutoscalerTuning } from '../autoscale/config.js';
import type { EventSink } from '../events/event-recorder.js';
import type { LeadershipListener } from '../leader/lease-elector.js';
import { PoolKeys } from '../pool/pool-keys.js';
import { type Pod, PoolPods } from '../pool/pool-pods.js';
import { PoolReconciler } from '../pool/pool-reconciler.js';
import type { TrafficPlanner } from '../rollout/rollout-port.js';
import { FunctionSecrets } from '../secrets/function-secrets.js';
import type { ControllerMetrics } from './controller-metrics.js';
import { ControllerSpans } from './controller-spans.js';
import { FunctionPods } from './function-pods.js';
import {
  FIELD_MANAGER,
  FunctionReconciler,
  type ReconcilerSettings,
  type StateProvisioner,
} from './function-reconciler.js';
import type { TriggerStatusSource } from './function-reconciler.js';
import { LoadFailures } from './load-failure.js';
import type { FunctionCleanup, FunctionStep } from './object-cache.js';
import { RouteConflicts } from './route-conflicts.js';
import type { ObservedDeployment } from './status.js';
import { WorkQueue } from './work-queue.js';

export interface FunctionControllerSettings extends ReconcilerSettings {
  /** Empty: every namespace. */
  namespaces: readonly string[];
  /** Functions reconciled at once (one key is never reconciled twice at once). */
  workers: number;
  /** Every Function is reconciled again this often, to put back what drifted unseen. */
  resyncMs: number;
  /** The autoscaler's platform-wide settings (windows, rates); defaults unless given. */
  autoscaler: Partial<AutoscalerTuning>;
  /** Generic pods kept running per namespace with a function at zero (0: no pool). */
  warmPoolSize: number;
}

type Fn = FunctionResource & KubeObject;

/** What Nimbus made: the informers of owned objects watch only these. */
const OWNED_SELECTOR = 'app.kubernetes.io/managed-by=nimbus';

/**
 * Informers on Functions and the objects made for them, a work queue, and workers that run the
 * reconciler. Informers run on every replica, so a standby takes over with a warm cache; the
 * queue and workers run only while this replica leads.
 */
export class FunctionController implements LeadershipListener {
  readonly functions: InformerSet<Fn>;
  private readonly spans: ControllerSpans;
  private readonly deployments: InformerSet<KubeObject>;
  private readonly services: InformerSet<KubeObject>;
  private readonly configMaps: InformerSet<KubeObject>;
  /** Functions' and pools' NetworkPolicies: watched even when none are made, to remove stale ones. */
  private readonly networkPolicies: InformerSet<KubeObject>;
  /** Nimbus's pods: functions' own, the warm pool's, and those functions took over from it. */
  private readonly pods: InformerSet<Pod>;
  /** The pods above by function: where a function's load error is looked for. */
  private readonly functionPods: FunctionPods;
  private readonly pools: PoolReconciler;
  private readonly poolPods: PoolPods | undefined;
  private readonly reconciler: FunctionReconciler;
  readonly autoscaler: ClusterAutoscaler;
  private queue: WorkQueue | undefined;
  private workers: Promise<void>[] = [];
  private resyncTimer: unknown;

  constructor(
    client: KubeClient,
    private readonly settings: FunctionControllerSettings,
    events: EventSink,
    cleanups: readonly FunctionCleanup[],
    private readonly steps: readonly FunctionStep[],
    state: StateProvisioner,
    concurrency: ConcurrencySource,
    private readonly metrics: ControllerMetrics,
    private readonly clock: Clock,
    private readonly log: Logger,
    tracing?: Tracing,
    /** Event-source triggers' status (TriggersReady, status.triggers); absent: none written. */
    triggers?: TriggerStatusSource,
    /** How versioned Functions' calls are shared (the rollout driver); absent: spec.traffic or all to the latest. */
    planner?: TrafficPlanner,
  ) {
    this.spans = new ControllerSpans(tracing);
    const { namespaces } = settings;
    this.functions = new InformerSet<Fn>(client, RESOURCES.functions, namespaces, log);
    this.deployments = new InformerSet(client, RESOURCES.deployments, namespaces, log, OWNED_SELECTOR);
    this.services = new InformerSet(client, RESOURCES.services, namespaces, log, OWNED_SELECTOR);
    this.configMaps = new InformerSet(client, RESOURCES.configMaps, namespaces, log, OWNED_SELECTOR);
    this.networkPolicies = new InformerSet(
      client,
      RESOURCES.networkPolicies,
      namespaces,
      log,
      OWNED_SELECTOR,
    );
    // One key per pool namespace, shared: the reconciler makes it, a wake derives pod tokens from it.
    const poolKeys = new PoolKeys(client);
    this.pools = new PoolReconciler(
      client,
      poolKeys,
      this.functions,
      this.deployments,
      settings,
      settings.warmPoolSize,
      metrics,
      log.child({ part: 'warm-pool' }),
      this.networkPolicies,
    );
    // Nimbus's pods: functions' (their load errors, found through this index) and the pool's.
    this.pods = new InformerSet<Pod>(client, RESOURCES.pods, namespaces, log, OWNED_SELECTOR);
    this.functionPods = new FunctionPods((key) => this.enqueue(key));
    this.pods.on(this.functionPods.observe);
    if (settings.warmPoolSize > 0) {
      this.poolPods = new PoolPods(
        client,
        this.pods,
        poolKeys,
        settings,
        clock,
        log.child({ part: 'warm-pool' }),
        metrics,
        events,
      );
      // A generic pod whose runtime exited cannot restart in place: it is replaced (leader only).
      const poolPods = this.poolPods;
      this.pods.on((event) => {
        if (event.type !== 'deleted' && this.queue !== undefined) void poolPods.heal(event.object);
      });
    }
    this.autoscaler = new ClusterAutoscaler(
      this.functions,
      {
        observe: (namespace, name) => {
          const deployment = this.deployments.get(namespace, name) as ObservedDeployment | undefined;
          if (deployment === undefined) return undefined;
          return { replicas: deployment.spec?.replicas ?? 1, ready: deployment.status?.readyReplicas ?? 0 };
        },
      },
      concurrency,
      {
        // The scale subresource: replicas alone, at once, in one small write.
        setReplicas: async (namespace, name, replicas) => {
          await client.mergePatch(
            RESOURCES.deployments,
            namespace,
            name,
            { spec: { replicas } },
            'scale',
            FIELD_MANAGER,
          );
        },
      },
      settings.autoscaler,
      (key, reason) => {
        metrics.scalings.inc({ reason });
        this.enqueue(key);
      },
      clock,
      log.child({ part: 'autoscaler' }),
      this.poolPods,
    );
    this.reconciler = new FunctionReconciler(
      client,
      {
        functions: this.functions,
        deployments: this.deployments,
        services: this.services,
        configMaps: this.configMaps,
        networkPolicies: this.networkPolicies,
      },
      settings,
      events,
      cleanups,
      state,
      new FunctionSecrets(client),
      this.autoscaler,
      metrics,
      clock,
      log,
      new LoadFailures(this.functionPods, log.child({ part: 'load-failures' })),
      triggers,
      (fn) => routeConflicts.verdict(fn),
      planner,
    );
    const routeConflicts = new RouteConflicts(this.functions);
    this.functions.on((event) => {
      // A Function's routes can take a route from, or give one back to, any other Function.
      if (event.type !== 'updated' || specOrLifecycleChanged(event)) {
        const old = event.type === 'updated' ? event.old : undefined;
        for (const key of routeConflicts.changed(event.object, old)) this.enqueue(key);
      }
      if (event.type === 'deleted' || (event.type === 'updated' && !specOrLifecycleChanged(event))) return;
      this.enqueue(objectKey(event.object));
    });
    for (const owned of [this.deployments, this.services, this.configMaps, this.networkPolicies]) {
      owned.on((event) => {
        const owner = ownerKey(event.object);
        if (owner !== undefined) this.enqueue(owner);
      });
    }
  }

  private get informers(): InformerSet<KubeObject>[] {
    return [
      this.functions,
      this.deployments,
      this.services,
      this.configMaps,
      this.networkPolicies,
      this.pods,
    ];
  }

  /** True once every informer holds its first list. */
  get synced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  /** The work queue of the current leadership term, for tests and metrics. */
  get workQueue(): WorkQueue | undefined {
    return this.queue;
  }

  start(): void {
    for (const informer of this.informers) informer.start();
  }

  startedLeading(): void {
    this.metrics.leader.set(1);
    const queue = new WorkQueue(this.clock, { baseDelayMs: 200, maxDelayMs: 5 * 60_000 });
    this.queue = queue;
    void (async () => {
      await Promise.all(this.informers.map((i) => i.synced()));
      if (this.queue !== queue) return;
      for (const fn of this.functions.list()) this.enqueue(objectKey(fn));
      this.workers = Array.from({ length: this.settings.workers }, () => this.work(queue));
      this.scheduleResync(queue);
      this.autoscaler.start();
      // Pods that broke while no replica led: their updates came before this term.
      await this.poolPods?.healAll();
    })();
  }

  stoppedLeading(): void {
    this.metrics.leader.set(0);
    this.autoscaler.stop();
    this.queue?.shutDown();
    this.queue = undefined;
    this.clock.clearTimeout(this.resyncTimer);
  }

  /** Stops acting, lets reconciles in flight finish, then stops the informers. */
  async stop(): Promise<void> {
    this.stoppedLeading();
    await Promise.all(this.workers);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /**
   * A gateway holds requests for a function: raise its replicas now. Only the leader acts; the
   * others answer undefined, and the gateway's wake reaches the leader too. The wake metric times
   * the scale write alone; a pool pod taken over meanwhile is waited for after it, and named in
   * the answer once it has loaded the function.
   */
  async wake(
    namespace: string,
    name: string,
    held: number,
    trace?: Context,
  ): Promise<WakeOutcome | undefined> {
    if (this.queue === undefined || !this.autoscaler.isRunning) return undefined;
    const started = performance.now();
    const scale = this.spans.step(trace, 'scale');
    let woken: Woken;
    try {
      const route = splitVersionRoute(name); // `fn@vN`: one version of a versioned Function
      woken = await this.autoscaler.wake(
        this.functions.get(namespace, route?.functionName ?? name),
        held,
        route?.version,
      );
    } catch (err) {
      this.metrics.wakes.inc({ outcome: 'failed' });
      scale.end(err);
      throw err;
    }
    const { outcome } = woken;
    scale.set('nimbus.wake.outcome', outcome.outcome);
    if (outcome.outcome !== 'not-found') scale.set('nimbus.replicas', outcome.replicas);
    scale.end();
    this.metrics.wakes.inc({ outcome: outcome.outcome });
    if (outcome.outcome === 'raised') this.metrics.wakeSeconds.observe((performance.now() - started) / 1000);
    // A pool pod taken over loads the function meanwhile: the rest of a pool cold start.
    const pool = woken.takingOver ? this.spans.step(trace, 'pool takeover') : undefined;
    const endpoint = await woken.serving;
    if (endpoint !== undefined) pool?.set('nimbus.pool.pod_address', `${endpoint.host}:${endpoint.port}`);
    pool?.end(endpoint === undefined ? 'no pool pod loaded the function in time' : undefined);
    return endpoint === undefined || outcome.outcome === 'not-found' ? outcome : { ...outcome, endpoint };
  }

  /**
   * The namespace's warm pool, after one of its Functions was reconciled (or deleted); and the
   * pods this function took over from the pool, which go once its own pods serve, or at zero.
   */
  private async reconcilePool(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    await this.pools.reconcile(namespace);
    const fn = this.functions.get(namespace, name);
    if (fn === undefined || this.poolPods === undefined) return;
    await this.poolPods.settle(
      fn,
      (deployment) =>
        (this.deployments.get(namespace, deployment) as ObservedDeployment | undefined)?.status
          ?.readyReplicas ?? 0,
      (version) => this.autoscaler.replicasFor(fn, version),
    );
  }

  private async runSteps(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const fn = this.functions.get(namespace, name);
    if (fn === undefined || fn.metadata.deletionTimestamp !== undefined) return;
    for (const step of this.steps) await step.reconcile(fn);
  }

  /** Reconciles again, soon, every Function `which` picks (say, those with state after Redis came back). */
  requeue(which: (fn: Fn) => boolean): void {
    for (const fn of this.functions.list()) if (which(fn)) this.enqueue(objectKey(fn));
  }

  private enqueue(key: string): void {
    if (this.queue === undefined) return;
    this.queue.add(key);
    this.metrics.queueDepth.set(this.queue.depth);
  }

  private scheduleResync(queue: WorkQueue): void {
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.queue !== queue) return;
      for (const fn of this.functions.list()) this.enqueue(objectKey(fn));
      this.scheduleResync(queue);
    }, this.settings.resyncMs);
  }

  private async work(queue: WorkQueue): Promise<void> {
    for (let key = await queue.next(); key !== undefined; key = await queue.next()) {
      this.metrics.queueDepth.set(queue.depth);
      const stopTimer = this.metrics.reconcileSeconds.startTimer();
      const span = this.spans.reconcile(key);
      try {
        const result = await this.reconciler.reconcile(key);
        await this.reconcilePool(key);
        await this.runSteps(key);
        const lagMs = queue.forget(key);
        if (lagMs !== undefined) this.metrics.reconcileLag.observe(lagMs / 1000);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        this.metrics.reconciles.inc({ result: 'success' });
        span.end();
      } catch (err) {
        span.set('nimbus.reconcile.error_reason', errorReason(err));
        span.end(err);
        const delay = queue.addRateLimited(key);
        this.metrics.reconciles.inc({ result: 'error' });
        this.metrics.reconcileErrors.inc({ reason: errorReason(err) });
        this.log.warn('reconcile failed; retrying', { function: key, retryInMs: delay, err });
      } finally {
        stopTimer();
        queue.done(key);
      }
    }
  }
}

/** Why a reconcile failed, as the errors metric says: an operator alerts on forbidden, not on conflicts. */
function errorReason(err: unknown): 'conflict' | 'forbidden' | 'other' {
  const code = apiErrorCode(err);
  if (code === 409) return 'conflict';
  return code === 401 || code === 403 ? 'forbidden' : 'other';
}

/** Status writes (ours) change neither the generation nor the lifecycle: they need no reconcile. */
function specOrLifecycleChanged(event: InformerEvent<Fn> & { type: 'updated' }): boolean {
  const now = event.object.metadata;
  const before = event.old.metadata;
  return (
    now.generation !== before.generation ||
    now.deletionTimestamp !== before.deletionTimestamp ||
    JSON.stringify(now.finalizers) !== JSON.stringify(before.finalizers) ||
    now.uid !== before.uid
  );
}

function ownerKey(object: KubeObject): string | undefined {
  const owner = object.metadata.ownerReferences?.find((o) => o.kind === KIND && o.controller === true);
  return owner === undefined ? undefined : `${object.metadata.namespace}/${owner.name}`;
}
