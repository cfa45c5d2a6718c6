import type { FunctionResource, Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { isVersioned, versionObjectName, versionRouteName } from '@nimbus/api/versions';
import { type AutoscalerConfig, type AutoscalerTuning, configFromSpec } from './config.js';
import { type AutoscalerState, type DecisionReason, decideScale, resumedState } from './decider.js';
import { type ConcurrencySample, pruneSamples } from './window.js';

/** The Functions to scale, as the informer holds them. */
export interface ScaledFunctions {
  list(): Iterable<FunctionResource>;
}

/** What runs now for a function, as the Deployment informer holds it; undefined before it exists. */
export interface ObservedReplicas {
  observe(namespace: string, name: string): { replicas: number; ready: number } | undefined;
}

/** The summed concurrency reports of the gateways (ReportEndpoint). */
export interface ConcurrencySource {
  sample(key: string): ConcurrencySample | undefined;
}

/** Sets a running function's replicas at once, without a whole reconcile (the scale subresource). */
export interface ReplicaWriter {
  setReplicas(namespace: string, name: string, replicas: number): Promise<void>;
}

/** A pod serving a function with its handler loaded: where a gateway may send requests now. */
export interface ServingPod {
  readonly host: string;
  readonly port: number;
}

/**
 * The warm pool: takes a generic pod over for a function waking from zero, when it has one ready.
 * `version` names the version of a versioned Function (undefined for a plain one).
 */
export interface PoolAdopter {
  /** Resolves once the pod has loaded the function (undefined: none taken over). */
  adopt(fn: FunctionResource, version?: string): Promise<ServingPod | undefined>;
  /** A pod `fn` (its `version`) took over earlier that still runs, loaded. */
  serving(fn: FunctionResource, version?: string): ServingPod | undefined;
}

/** What a wake did, for the gateway that asked and for the wake metric. */
export type WakeOutcome =
  /** The Deployment's scale was written: `replicas` are on their way. */
  | { readonly outcome: 'raised'; readonly replicas: number; readonly endpoint?: ServingPod }
  /** Nothing to write: the Deployment already asks for enough, or its first reconcile will. */
  | { readonly outcome: 'unchanged'; readonly replicas: number; readonly endpoint?: ServingPod }
  | { readonly outcome: 'not-found' };

/**
 * A wake's outcome once the scale is written, and, apart, the pool pod that serves the function
 * meanwhile: the caller times the first and may wait for the second.
 */
export interface Woken {
  readonly outcome: WakeOutcome;
  /** Resolves with a loaded pool pod of the function, or undefined (none, or not within ADOPTION_WAIT_MS). */
  readonly serving: Promise<ServingPod | undefined>;
  /** A pool pod is being taken over for this wake (or another wake's takeover is awaited). */
  readonly takingOver: boolean;
}

/**
 * How long a wake's answer may wait for a pool pod to load the function. Past it the answer goes
 * without the pod, within the gateway's wake timeout, and its held requests wait for the slice.
 */
export const ADOPTION_WAIT_MS = 2500;

const none = Promise.resolve(undefined);

interface Tracked {
  generation: number | undefined;
  /** Scaled 0..max on demand (a version reached by tag only), not min..max. */
  onDemand: boolean;
  config: AutoscalerConfig;
  samples: ConcurrencySample[];
  state: AutoscalerState;
}

export const TICK_MS = 1000;

const keyOf = (fn: FunctionResource) => `${fn.metadata.namespace}/${fn.metadata.name}`;

/**
 * What one decision scales: a plain Function's Deployment, or one version's of a versioned
 * Function. `key` names its samples (the gateway's route) and its decisions; `functionKey` is the
 * Function the reconcile that follows a change is asked for.
 */
interface Target {
  readonly key: string;
  readonly functionKey: string;
  /** The Deployment's name. */
  readonly deployment: string;
  readonly onDemand: boolean;
  /** The version, for a versioned Function's. */
  readonly version?: string;
}

const plainTarget = (fn: FunctionResource): Target => ({
  key: keyOf(fn),
  functionKey: keyOf(fn),
  deployment: fn.metadata.name,
  onDemand: false,
});

function versionTarget(fn: FunctionResource, version: string, percent: number): Target {
  const { namespace, name } = fn.metadata;
  return {
    key: `${namespace}/${versionRouteName(name, version)}`,
    functionKey: keyOf(fn),
    deployment: versionObjectName(name, version),
    onDemand: percent === 0,
    version,
  };
}

/**
 * Each version a versioned Function's status.traffic names, with its share (0: reached by tag
 * only). A version it does not name takes no call, so it is not scaled at all: it gets 0.
 */
export function trafficShares(fn: FunctionResource): Map<string, number> {
  const shares = new Map<string, number>();
  for (const entry of fn.status?.traffic ?? [])
    shares.set(entry.version, (shares.get(entry.version) ?? 0) + entry.percent);
  return shares;
}

/** The targets a Function is scaled as: itself, or each version its traffic names. */
function targetsOf(fn: FunctionResource): Target[] {
  if (!isVersioned(fn.spec)) return [plainTarget(fn)];
  return [...trafficShares(fn)].map(([version, percent]) => versionTarget(fn, version, percent));
}

/**
 * The cluster's autoscaler loop around the pure decider, run by the leader only. Every tick it
 * takes each function's concurrency as the gateways reported it, decides, and when the replicas
 * change asks for a reconcile, which applies them with the rest of the Deployment. A wake (a
 * gateway holding a request for a function at zero) skips the tick and the queue: the
 * Deployment's scale is written at once, then the reconcile follows for the status.
 */
export class ClusterAutoscaler {
  private readonly tracked = new Map<string, Tracked>();
  /** Pool pods being taken over, by function: a second wake meanwhile waits for the same pod. */
  private readonly adopting = new Map<string, Promise<ServingPod | undefined>>();
  private timer: unknown;
  private running = false;

  constructor(
    private readonly functions: ScaledFunctions,
    private readonly observed: ObservedReplicas,
    private readonly concurrency: ConcurrencySource,
    private readonly writer: ReplicaWriter,
    private readonly tuning: Partial<AutoscalerTuning>,
    private readonly changed: (key: string, reason: DecisionReason) => void,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly pool: PoolAdopter | undefined = undefined,
  ) {}

  /**
   * The replicas a Function's Deployment should have now, for the reconciler. A function seen for
   * the first time is decided without samples: its initial scale, or what already runs when a
   * previous leader decided it. For a versioned Function, `version` names the Deployment asked
   * about: a version with a share of status.traffic scales min..max, one reached by tag only
   * 0..max on demand, one status.traffic does not name gets 0. Without `version`, a versioned
   * Function's answer is the sum over its versions.
   */
  replicasFor(fn: FunctionResource, version?: string): number {
    if (!isVersioned(fn.spec))
      return version === undefined ? this.track(fn, plainTarget(fn)).state.desired : 0;
    const shares = trafficShares(fn);
    if (version === undefined) {
      let total = 0;
      for (const [v, percent] of shares) total += this.track(fn, versionTarget(fn, v, percent)).state.desired;
      return total;
    }
    const percent = shares.get(version);
    return percent === undefined ? 0 : this.track(fn, versionTarget(fn, version, percent)).state.desired;
  }

  /** Starts ticking: this replica leads. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      if (!this.running) return;
      this.tick();
      this.timer = this.clock.setTimeout(tick, TICK_MS);
    };
    this.timer = this.clock.setTimeout(tick, TICK_MS);
  }

  /** Stops ticking and forgets every decision: the next leader resumes from what runs. */
  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    this.tracked.clear();
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** One round of decisions over every Function the informer holds. */
  tick(): void {
    const seen = new Set<string>();
    for (const fn of this.functions.list()) {
      for (const target of targetsOf(fn)) {
        seen.add(target.key);
        const tracked = this.track(fn, target);
        const sample = this.concurrency.sample(target.key);
        if (sample !== undefined) tracked.samples.push(sample);
        this.decide(target, fn, tracked);
      }
    }
    for (const key of this.tracked.keys()) if (!seen.has(key)) this.tracked.delete(key);
  }

  /**
   * A gateway holds `held` requests for the function: count them as a sample now and decide, and
   * when that raises the replicas, write the scale before answering, so the caller's wait for the
   * answer is the time to raise them. From zero a pool pod is taken over alongside the write, and
   * `serving` names it once loaded: the gateway sends the held requests there at once, before any
   * EndpointSlice lists it.
   *
   * A versioned Function is woken one version at a time (`version`, from the gateway's version
   * route), and only a version its status.traffic names: any other answers not-found, as an
   * unknown function does, so no wake can start pods of a version calls may not reach. A
   * version takes a pool pod of its own, specialised as that version (its code and settings, not
   * the spec's) and labelled with it, so the version's Service lists it (PoolPods.adopt).
   */
  async wake(fn: FunctionResource | undefined, held: number, version?: string): Promise<Woken> {
    const target = fn === undefined ? undefined : this.wakeTarget(fn, version);
    if (fn === undefined || target === undefined)
      return { outcome: { outcome: 'not-found' }, serving: none, takingOver: false };
    const { key } = target;
    const tracked = this.track(fn, target);
    tracked.samples.push({ at: this.clock.now(), concurrency: Math.max(1, held) });
    const reason = this.decide(target, fn, tracked, false);
    const desired = tracked.state.desired;
    const running = this.observed.observe(fn.metadata.namespace, target.deployment)?.replicas;
    const pool = this.pool;
    // No Deployment yet: the reconcile that creates it asks for `desired`.
    if (running === undefined || running >= desired) {
      if (reason !== undefined) this.changed(target.functionKey, reason);
      // Another gateway's wake took a pod over: name it to this one too.
      const pending = this.adopting.get(key);
      const serving =
        pending === undefined ? Promise.resolve(pool?.serving(fn, target.version)) : this.bounded(pending);
      return {
        outcome: { outcome: 'unchanged', replicas: desired },
        serving,
        takingOver: pending !== undefined,
      };
    }
    // From zero, a pool pod may serve long before a new pod could: both start at once, and the
    // pool's pod hands over to the Deployment's once those are ready.
    const serving =
      running === 0 && pool !== undefined ? this.bounded(this.adoptOnce(key, fn, target.version)) : none;
    try {
      await this.writer.setReplicas(fn.metadata.namespace, target.deployment, desired);
    } finally {
      // After the write, so the reconcile (status, the rest of the Deployment) does not compete with it.
      if (reason !== undefined) this.changed(target.functionKey, reason);
    }
    return {
      outcome: { outcome: 'raised', replicas: desired },
      serving,
      takingOver: running === 0 && pool !== undefined,
    };
  }

  /** What a wake for `fn` (and `version`) scales; undefined when no call can reach it. */
  private wakeTarget(fn: FunctionResource, version: string | undefined): Target | undefined {
    if (!isVersioned(fn.spec)) return version === undefined ? plainTarget(fn) : undefined;
    if (version === undefined) return undefined;
    const percent = trafficShares(fn).get(version);
    return percent === undefined ? undefined : versionTarget(fn, version, percent);
  }

  /** One pool pod per function (version): the one being taken over, or already serving, else a new adoption. */
  private adoptOnce(
    key: string,
    fn: FunctionResource,
    version: string | undefined,
  ): Promise<ServingPod | undefined> {
    if (this.pool === undefined) return none;
    const pending = this.adopting.get(key);
    if (pending !== undefined) return pending;
    const serving = this.pool.serving(fn, version);
    if (serving !== undefined) return Promise.resolve(serving);
    const adoption = this.pool.adopt(fn, version).catch(() => undefined);
    this.adopting.set(key, adoption);
    void adoption.then(() => {
      if (this.adopting.get(key) === adoption) this.adopting.delete(key);
    });
    return adoption;
  }

  /** `serving`, or undefined once ADOPTION_WAIT_MS passed without it. */
  private bounded(serving: Promise<ServingPod | undefined>): Promise<ServingPod | undefined> {
    let timer: unknown;
    const late = new Promise<undefined>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(undefined), ADOPTION_WAIT_MS);
    });
    return Promise.race([serving, late]).finally(() => this.clock.clearTimeout(timer));
  }

  private track(fn: FunctionResource, target: Target): Tracked {
    const { key, onDemand } = target;
    const existing = this.tracked.get(key);
    const generation = fn.metadata.generation;
    if (existing !== undefined) {
      // A version's share can move to or from zero without a new generation (a rollout's step).
      if (existing.generation !== generation || existing.onDemand !== onDemand) {
        existing.config = this.configOf(fn, onDemand);
        existing.generation = generation;
        existing.onDemand = onDemand;
      }
      return existing;
    }
    const config = this.configOf(fn, onDemand);
    const now = this.clock.now();
    const running = this.observed.observe(fn.metadata.namespace, target.deployment);
    const state =
      running === undefined
        ? decideScale(config, { samples: [], readyReplicas: 0 }, undefined, now).state
        : resumedState(running.replicas, running.ready, now);
    const tracked: Tracked = { generation, onDemand, config, samples: [], state };
    this.tracked.set(key, tracked);
    return tracked;
  }

  /**
   * spec.scale, or for a version reached by tag only, the same without its minimum and starting
   * at zero: it runs while tagged calls come, and no longer.
   */
  private configOf(fn: FunctionResource, onDemand: boolean) {
    if (!onDemand) return configFromSpec(fn.spec.scale, this.tuning);
    return configFromSpec({ ...fn.spec.scale, min: 0 }, { ...this.tuning, initialScale: 0 });
  }

  /**
   * Decides and keeps the new state; returns the rule when the replicas changed, and then (unless
   * `notify` is false, for the caller to do it) asks for a reconcile.
   */
  private decide(
    target: Target,
    fn: FunctionResource,
    tracked: Tracked,
    notify = true,
  ): DecisionReason | undefined {
    const { key } = target;
    const now = this.clock.now();
    tracked.samples = pruneSamples(tracked.samples, now, tracked.config.stableWindowMs);
    const ready = this.observed.observe(fn.metadata.namespace, target.deployment)?.ready ?? 0;
    const decision = decideScale(
      tracked.config,
      { samples: tracked.samples, readyReplicas: ready },
      tracked.state,
      now,
    );
    const before = tracked.state.desired;
    tracked.state = decision.state;
    if (decision.desired === before) return undefined;
    this.log.info('scaling', {
      function: key,
      from: before,
      to: decision.desired,
      reason: decision.reason,
      stableConcurrency: decision.stableConcurrency,
      panicConcurrency: decision.panicConcurrency,
    });
    // The reconcile is the Function's: it writes every version's replicas.
    if (notify) this.changed(target.functionKey, decision.reason);
    return decision.reason;
  }
}
