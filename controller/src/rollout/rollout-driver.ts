import {
  type Clock,
  type FunctionResource,
  type RolloutSpec,
  type RolloutStatus,
  type TrafficStatus,
  type TrafficTarget,
  parseDuration,
} from '@nimbus/api';
import type { VersionOutcomes } from '@nimbus/api/traffic';
import { splitVersionRoute } from '@nimbus/api/versions';
import type { Verdict } from '../reconcile/status.js';
import {
  type ProgressingRollout,
  type RolloutDecision,
  type RolloutPolicy,
  type RolloutState,
  decideRollout,
  startRollout,
} from './rollout-decision.js';
import type { TrafficPlan, TrafficPlanner } from './rollout-port.js';
import { RolloutWindow } from './rollout-window.js';

/** spec.rollout's defaults, as the CRD schema sets them (versions-schema.ts). */
const DEFAULT_PAUSE = '1m';
const DEFAULT_MIN_REQUESTS = 50;
const DEFAULT_MAX_ERROR_RATE_INCREASE = 5;
const DEFAULT_MAX_LATENCY_INCREASE = 50;
const DEFAULT_P99_FLOOR = '25ms';

/** spec.rollout in the decision's units: durations in ms, points and percents as fractions and ratios. Pure. */
export function rolloutPolicy(spec: RolloutSpec): RolloutPolicy {
  return {
    steps: spec.steps.map((s) => ({ percent: s.percent, pauseMs: parseDuration(s.pause ?? DEFAULT_PAUSE) })),
    minRequests: spec.minRequests ?? DEFAULT_MIN_REQUESTS,
    maxErrorRateIncrease: (spec.maxErrorRateIncrease ?? DEFAULT_MAX_ERROR_RATE_INCREASE) / 100,
    maxP99Ratio: 1 + (spec.maxLatencyIncrease ?? DEFAULT_MAX_LATENCY_INCREASE) / 100,
    p99FloorMs: parseDuration(spec.p99Floor ?? DEFAULT_P99_FLOOR),
  };
}

/** spec.traffic with `latestVersion` resolved to `latest`: status.traffic. Pure. */
export function resolveTraffic(targets: readonly TrafficTarget[], latest: string): TrafficStatus[] {
  return targets.map((t) => ({
    version: t.latestVersion === true ? latest : (t.version ?? latest),
    percent: t.percent,
    ...(t.tag === undefined ? {} : { tag: t.tag }),
  }));
}

/**
 * The decision's state from status.rollout, so a new leader carries a rollout on where the last
 * one left it. Undefined for none, and for an aborted one: spec.traffic decided then. Pure.
 */
export function stateFromStatus(status: RolloutStatus | undefined, now: number): RolloutState | undefined {
  if (status === undefined) return undefined;
  const { stable, candidate } = status;
  const since = Date.parse(status.since);
  const at = Number.isFinite(since) ? since : now;
  switch (status.phase) {
    case 'Progressing':
      return {
        phase: 'Progressing',
        stable,
        candidate,
        step: Math.max(0, (status.step ?? 1) - 1),
        stepStartedAt: at,
      };
    case 'Succeeded':
      return { phase: 'Succeeded', stable, candidate, at };
    case 'RolledBack':
      return {
        phase: 'RolledBack',
        stable,
        candidate,
        at,
        reason: status.reason === 'Latency' ? 'Latency' : 'ErrorRate',
        message: status.message ?? '',
      };
    default:
      return undefined;
  }
}

/** status.rollout for a decision's state; `message` is kept on a finished rollout. Pure. */
export function statusOf(state: RolloutState, steps: number, message?: string): RolloutStatus {
  const base = { phase: state.phase, stable: state.stable, candidate: state.candidate, steps };
  switch (state.phase) {
    case 'Progressing':
      return { ...base, step: state.step + 1, since: iso(state.stepStartedAt) };
    case 'Succeeded':
      return { ...base, since: iso(state.at), ...(message === undefined ? {} : { message }) };
    case 'RolledBack':
      return { ...base, since: iso(state.at), reason: state.reason, message: state.message };
  }
}

/** The RolledOut verdict of a finished (or aborted) rollout as status.rollout tells it. Pure. */
export function verdictOf(status: RolloutStatus | undefined): Verdict | undefined {
  if (status === undefined) return undefined;
  const message = status.message ?? '';
  switch (status.phase) {
    case 'Succeeded':
      return { status: 'True', reason: 'RolloutSucceeded', message };
    case 'RolledBack':
      return { status: 'False', reason: 'RolledBack', message };
    case 'Aborted':
      return { status: 'False', reason: 'Aborted', message };
    case 'Progressing':
      return {
        status: 'False',
        reason: 'Progressing',
        message: `step ${status.step ?? 1} of ${status.steps}`,
      };
  }
}

/** The version with all of status.traffic's share, or the largest share; undefined without traffic. */
function holderOf(traffic: readonly TrafficStatus[] | undefined): string | undefined {
  let holder: TrafficStatus | undefined;
  for (const entry of traffic ?? [])
    if (holder === undefined || entry.percent > holder.percent) holder = entry;
  return holder === undefined || holder.percent === 0 ? undefined : holder.version;
}

const iso = (ms: number) => new Date(ms).toISOString();
const keyOf = (fn: FunctionResource) => `${fn.metadata.namespace}/${fn.metadata.name}`;

/** A rollout this leader judges: its policy and state as last planned, and the current step's window. */
interface Watched {
  readonly policy: RolloutPolicy;
  readonly state: ProgressingRollout;
  readonly window: RolloutWindow;
  /** A report already asked for a reconcile since the last plan. */
  requeued: boolean;
}

const NO_CALLS = { requests: 0, errors: 0, p99Ms: undefined };

/**
 * The rollout driver (TrafficPlanner): decides a versioned Function's status.traffic on every
 * reconcile, from spec.traffic, or the rollout spec.rollout asks for, or all to the latest.
 * Rollout state is read back from status.rollout each time, so a new leader carries on; what it
 * keeps in memory is only each running rollout's window of outcomes since its current step began,
 * fed by the gateways' reports (onReport). A report that changes a rollout's decision (rolled
 * back, or the step's evidence complete once its pause is over) requeues the Function, so the
 * reconciler writes the new split at once rather than at the next resync.
 */
export class RolloutDriver implements TrafficPlanner {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly clock: Clock,
    /** Asks for a reconcile of the Function `namespace/name`. */
    private readonly requeue: (key: string) => void,
  ) {}

  plan(fn: FunctionResource, latest: string, versions: readonly string[], now: number): TrafficPlan {
    const key = keyOf(fn);
    const { traffic, rollout } = fn.spec;
    if (traffic !== undefined) {
      this.watched.delete(key);
      return this.fixed(fn, resolveTraffic(traffic, latest), latest, versions, now);
    }
    if (rollout === undefined) {
      this.watched.delete(key);
      return this.allTo(latest, fn.status?.rollout, now, 'spec.rollout was removed');
    }
    return this.rollout(fn, rolloutPolicy(rollout), latest, versions, now);
  }

  /**
   * One report's outcomes, as they arrive (deltas since that gateway's last report): added to
   * the windows of the rollouts they concern, and a Function whose rollout would now move is
   * requeued. Outcomes of versions no rollout here judges are dropped.
   */
  onReport(outcomes: Readonly<Record<string, VersionOutcomes>>): void {
    const touched = new Set<string>();
    for (const [route, counts] of Object.entries(outcomes)) {
      const slash = route.indexOf('/');
      const version = splitVersionRoute(route.slice(slash + 1));
      if (slash <= 0 || version === undefined) continue;
      const key = `${route.slice(0, slash)}/${version.functionName}`;
      const watched = this.watched.get(key);
      if (watched === undefined) continue;
      watched.window.add(version.version, counts);
      touched.add(key);
    }
    const now = this.clock.now();
    for (const key of touched) {
      const watched = this.watched.get(key) as Watched;
      if (watched.requeued) continue;
      const decision = decideRollout(watched.policy, watched.state, watched.window.observation(), now);
      if (decision.state === watched.state) continue;
      watched.requeued = true;
      this.requeue(key);
    }
  }

  /** spec.traffic decides: a rollout under way is aborted (the one-field rollback). */
  private fixed(
    fn: FunctionResource,
    wanted: TrafficStatus[],
    latest: string,
    versions: readonly string[],
    now: number,
  ): TrafficPlan {
    const previous = fn.status?.rollout;
    const unknown = wanted.filter((t) => !versions.includes(t.version)).map((t) => t.version);
    // A version that is not kept has no pods: serving it would fail every call sent there. The
    // split in force stays (or all to the latest) until spec.traffic names kept versions only.
    const current = fn.status?.traffic;
    const traffic =
      unknown.length === 0
        ? wanted
        : current?.every((t) => versions.includes(t.version))
          ? current
          : [{ version: latest, percent: 100 }];
    const refused =
      unknown.length === 0
        ? undefined
        : {
            type: 'Warning' as const,
            reason: 'TrafficUnknownVersion',
            message: `spec.traffic names ${[...new Set(unknown)].join(', ')}, not among the kept versions (${versions.join(', ')}); the split in force stays`,
          };
    if (previous?.phase !== 'Progressing') {
      const condition = verdictOf(previous);
      return {
        traffic,
        ...(previous === undefined ? {} : { rollout: previous }),
        ...(condition === undefined ? {} : { condition }),
        ...(refused === undefined ? {} : { event: refused }),
      };
    }
    const message = `spec.traffic was set and decides the split now: the rollout of ${previous.candidate} from ${previous.stable} stopped at step ${previous.step ?? 1} of ${previous.steps}`;
    const rollout: RolloutStatus = {
      phase: 'Aborted',
      stable: previous.stable,
      candidate: previous.candidate,
      steps: previous.steps,
      since: iso(now),
      reason: 'TrafficSet',
      message,
    };
    return {
      traffic,
      rollout,
      condition: { status: 'False', reason: 'Aborted', message },
      event: refused ?? { type: 'Normal', reason: 'RolloutAborted', message },
    };
  }

  /** No rollout to run: the latest takes everything; a rollout under way stops. */
  private allTo(latest: string, previous: RolloutStatus | undefined, now: number, why: string): TrafficPlan {
    const traffic = [{ version: latest, percent: 100 }];
    if (previous?.phase !== 'Progressing') {
      const condition = verdictOf(previous);
      return {
        traffic,
        ...(previous === undefined ? {} : { rollout: previous }),
        ...(condition === undefined ? {} : { condition }),
      };
    }
    const message = `${why}: ${latest} takes all calls, and the rollout of ${previous.candidate} from ${previous.stable} stopped at step ${previous.step ?? 1} of ${previous.steps}`;
    return {
      traffic,
      rollout: {
        phase: 'Aborted',
        stable: previous.stable,
        candidate: previous.candidate,
        steps: previous.steps,
        since: iso(now),
        reason: 'RolloutRemoved',
        message,
      },
      condition: { status: 'False', reason: 'Aborted', message },
      event: { type: 'Normal', reason: 'RolloutAborted', message },
    };
  }

  private rollout(
    fn: FunctionResource,
    policy: RolloutPolicy,
    latest: string,
    versions: readonly string[],
    now: number,
  ): TrafficPlan {
    const key = keyOf(fn);
    const previous = fn.status?.rollout;
    let state = stateFromStatus(previous, now);
    // Where a new latest version rolls out from: the stable version of a rollout under way or
    // rolled back (never a candidate that failed), the candidate of one that succeeded, or else
    // the version that holds the calls now.
    const from =
      state === undefined
        ? holderOf(fn.status?.traffic)
        : state.phase === 'Succeeded'
          ? state.candidate
          : state.stable;
    let started = false;
    if (state === undefined || state.candidate !== latest) {
      if (from === undefined || from === latest || !versions.includes(from)) {
        this.watched.delete(key);
        const why =
          from === latest
            ? `the spec is back at ${latest}`
            : `${latest} has no kept version with the calls to roll out from`;
        return this.allTo(latest, previous, now, why);
      }
      state = startRollout(from, latest, now);
      started = true;
    }
    const window = state.phase === 'Progressing' ? this.windowFor(key, state) : undefined;
    const observed = window?.observation() ?? { stable: NO_CALLS, candidate: NO_CALLS };
    const decision = decideRollout(policy, state, observed, now);
    this.remember(key, policy, decision.state, window);
    const kept =
      previous !== undefined && previous.phase === decision.state.phase && previous.candidate === latest
        ? previous.message
        : undefined;
    const rollout = statusOf(decision.state, policy.steps.length, decision.event?.message ?? kept);
    const first = policy.steps[0];
    const event =
      decision.event ??
      (started && first !== undefined
        ? {
            type: 'Normal' as const,
            reason: 'RolloutStarted',
            message: `${latest} takes ${first.percent} % (step 1 of ${policy.steps.length}), judged against ${state.stable}`,
          }
        : undefined);
    return {
      traffic: decision.traffic,
      rollout,
      condition: this.condition(policy, decision, rollout),
      ...(event === undefined ? {} : { event }),
      ...(decision.recheckAt === undefined ? {} : { requeueAfterMs: Math.max(0, decision.recheckAt - now) }),
    };
  }

  private condition(policy: RolloutPolicy, decision: RolloutDecision, rollout: RolloutStatus): Verdict {
    const { state } = decision;
    if (state.phase !== 'Progressing') return verdictOf(rollout) as Verdict;
    const step = policy.steps[state.step];
    const pauseEnds = state.stepStartedAt + (step?.pauseMs ?? 0);
    const holding = decision.waiting ?? `judged against ${state.stable} until ${iso(pauseEnds)}`;
    return {
      status: 'False',
      reason: 'Progressing',
      message: `step ${state.step + 1} of ${policy.steps.length}: ${state.candidate} takes ${step?.percent ?? 0} %; ${holding}`,
    };
  }

  /** The window of the rollout's current step: the one kept if it is that step's, else a fresh one. */
  private windowFor(key: string, state: ProgressingRollout): RolloutWindow {
    const window = this.watched.get(key)?.window;
    if (
      window !== undefined &&
      window.stable === state.stable &&
      window.candidate === state.candidate &&
      window.since === state.stepStartedAt
    )
      return window;
    return new RolloutWindow(state.stable, state.candidate, state.stepStartedAt);
  }

  private remember(
    key: string,
    policy: RolloutPolicy,
    state: RolloutState,
    window: RolloutWindow | undefined,
  ) {
    if (state.phase !== 'Progressing') {
      this.watched.delete(key);
      return;
    }
    const current =
      window !== undefined && window.since === state.stepStartedAt
        ? window
        : new RolloutWindow(state.stable, state.candidate, state.stepStartedAt);
    this.watched.set(key, { policy, state, window: current, requeued: false });
  }
}
