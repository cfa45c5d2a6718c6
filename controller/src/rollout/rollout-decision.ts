import type { TrafficEntry } from '@nimbus/api/traffic';

/** One step of a rollout: the candidate's share, held for `pauseMs` while it is judged. */
export interface RolloutStep {
  readonly percent: number;
  readonly pauseMs: number;
}

/** A Function's rollout policy, durations in milliseconds. */
export interface RolloutPolicy {
  /** Shares of the candidate, rising, each below 100: after the last, it takes everything. */
  readonly steps: readonly RolloutStep[];
  /** Calls the candidate must answer within a step before the step may pass or fail it. */
  readonly minRequests: number;
  /** How far the candidate's error rate may rise above the stable version's, as a fraction (0.05: 5 points). */
  readonly maxErrorRateIncrease: number;
  /** How many times the stable version's p99 latency the candidate's may reach. */
  readonly maxP99Ratio: number;
  /** A stable p99 below this counts as this: a 2 ms function is not failed for answering in 4. */
  readonly p99FloorMs: number;
}

/** What one version did over the current step's window; both versions' cover the same window. */
export interface WindowStats {
  readonly requests: number;
  /** Calls the version failed: 5xx answers, timeouts, refused connections (a caller's 4xx is not one). */
  readonly errors: number;
  /** Undefined without requests. */
  readonly p99Ms: number | undefined;
}

export interface RolloutObservation {
  readonly stable: WindowStats;
  readonly candidate: WindowStats;
}

export type RollbackReason = 'ErrorRate' | 'Latency';

/** A rollout under way: the candidate holds the share of step `step` (an index into policy.steps). */
export interface ProgressingRollout {
  readonly phase: 'Progressing';
  readonly stable: string;
  readonly candidate: string;
  readonly step: number;
  readonly stepStartedAt: number;
}

/** Where a rollout stands; the decision keeps nothing between calls, so the caller stores this. */
export type RolloutState =
  | ProgressingRollout
  | { readonly phase: 'Succeeded'; readonly stable: string; readonly candidate: string; readonly at: number }
  | {
      readonly phase: 'RolledBack';
      readonly stable: string;
      readonly candidate: string;
      readonly at: number;
      readonly reason: RollbackReason;
      readonly message: string;
    };

export interface RolloutEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'RolloutStep' | 'RolloutSucceeded' | 'RolledBack';
  readonly message: string;
}

export interface RolloutDecision {
  readonly state: RolloutState;
  /** The split to serve now. */
  readonly traffic: TrafficEntry[];
  /** Worth recording on the Function: a step taken, the rollout done, or rolled back. */
  readonly event?: RolloutEvent;
  /** Why the current step does not pass yet, for status; undefined when nothing holds it. */
  readonly waiting?: string;
  /** The latest time to decide again even if nothing is observed meanwhile: the step's pause ends. */
  readonly recheckAt?: number;
}

/** A new rollout: `candidate` starts at the first step's share, judged against `stable`. Pure. */
export function startRollout(stable: string, candidate: string, now: number): ProgressingRollout {
  return { phase: 'Progressing', stable, candidate, step: 0, stepStartedAt: now };
}

/**
 * The next move of a progressive rollout at `now`, as Flagger or Argo Rollouts make it, without
 * an add-on: the candidate is judged against the stable version over the same window (the
 * current step), and
 * - rolled back at once, whatever the step's pause, once it has answered `minRequests` calls and
 *   its error rate is more than `maxErrorRateIncrease` above the stable one's, or its p99 more than
 *   `maxP99Ratio` times the stable one's (floored at `p99FloorMs`);
 * - promoted to the next step when the pause is over and it has answered `minRequests` calls in
 *   the step, and to all traffic after the last step;
 * - otherwise held where it is, with the reason. A candidate that gets no calls never passes a
 *   step: no evidence is not good evidence. With `minRequests: 0` it passes on time alone.
 * Pure: the caller measures the windows, stores the state, and applies the traffic.
 */
export function decideRollout(
  policy: RolloutPolicy,
  state: RolloutState,
  observed: RolloutObservation,
  now: number,
): RolloutDecision {
  if (state.phase === 'Succeeded') return { state, traffic: [{ version: state.candidate, percent: 100 }] };
  if (state.phase === 'RolledBack') return { state, traffic: [{ version: state.stable, percent: 100 }] };
  const { stable, candidate } = state;
  const step = policy.steps[state.step];
  // A policy shortened under a running rollout: what is left is the end.
  if (step === undefined) return succeed(state, now, observed);
  const judged = observed.candidate.requests >= policy.minRequests && observed.candidate.requests > 0;
  if (judged) {
    const failure = failureOf(policy, state, observed);
    if (failure !== undefined) {
      const rolledBack: RolloutState = {
        phase: 'RolledBack',
        stable,
        candidate,
        at: now,
        reason: failure.reason,
        message: failure.message,
      };
      return {
        state: rolledBack,
        traffic: [{ version: stable, percent: 100 }],
        event: { type: 'Warning', reason: 'RolledBack', message: failure.message },
      };
    }
  }
  const pauseEnds = state.stepStartedAt + step.pauseMs;
  const traffic = split(stable, candidate, step.percent);
  if (now < pauseEnds) return { state, traffic, recheckAt: pauseEnds };
  if (observed.candidate.requests < policy.minRequests) {
    return {
      state,
      traffic,
      waiting: `${candidate} has answered ${observed.candidate.requests} of the ${policy.minRequests} calls step ${state.step + 1} needs before it can pass`,
    };
  }
  const next = state.step + 1;
  if (next >= policy.steps.length) return succeed(state, now, observed);
  const nextStep = policy.steps[next] as RolloutStep;
  return {
    state: { ...state, step: next, stepStartedAt: now },
    traffic: split(stable, candidate, nextStep.percent),
    event: {
      type: 'Normal',
      reason: 'RolloutStep',
      message: `${candidate} takes ${nextStep.percent} % (step ${next + 1} of ${policy.steps.length}) after ${describe(candidate, observed.candidate)} against ${describe(stable, observed.stable)}`,
    },
    recheckAt: now + nextStep.pauseMs,
  };
}

function succeed(state: ProgressingRollout, now: number, observed: RolloutObservation): RolloutDecision {
  return {
    state: { phase: 'Succeeded', stable: state.stable, candidate: state.candidate, at: now },
    traffic: [{ version: state.candidate, percent: 100 }],
    event: {
      type: 'Normal',
      reason: 'RolloutSucceeded',
      message: `${state.candidate} takes all traffic from ${state.stable} after ${describe(state.candidate, observed.candidate)} in the last step`,
    },
  };
}

/** Why the candidate fails against the stable version, or undefined while it holds up. */
function failureOf(
  policy: RolloutPolicy,
  { stable, candidate }: { stable: string; candidate: string },
  observed: RolloutObservation,
): { reason: RollbackReason; message: string } | undefined {
  const candidateRate = observed.candidate.errors / observed.candidate.requests;
  // A stable version with no calls in the window sets the bar at no errors.
  const stableRate = observed.stable.requests === 0 ? 0 : observed.stable.errors / observed.stable.requests;
  if (candidateRate - stableRate > policy.maxErrorRateIncrease) {
    return {
      reason: 'ErrorRate',
      message: `${candidate} failed ${observed.candidate.errors} of ${observed.candidate.requests} calls (${percent(candidateRate)}) against ${percent(stableRate)} for ${stable} over the same window; at most ${percent(policy.maxErrorRateIncrease)} more is allowed`,
    };
  }
  const candidateP99 = observed.candidate.p99Ms;
  if (candidateP99 !== undefined) {
    const bar = Math.max(observed.stable.p99Ms ?? 0, policy.p99FloorMs);
    if (candidateP99 > bar * policy.maxP99Ratio) {
      return {
        reason: 'Latency',
        message: `${candidate}'s p99 latency ${ms(candidateP99)} is over ${policy.maxP99Ratio} times ${stable}'s ${ms(observed.stable.p99Ms ?? 0)}${bar > (observed.stable.p99Ms ?? 0) ? ` (counted as ${ms(bar)}, the floor)` : ''} over the same window`,
      };
    }
  }
  return undefined;
}

function split(stable: string, candidate: string, candidatePercent: number): TrafficEntry[] {
  return [
    { version: stable, percent: 100 - candidatePercent },
    { version: candidate, percent: candidatePercent },
  ];
}

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)} %`;
const ms = (value: number) => `${Math.round(value)} ms`;

function describe(version: string, stats: WindowStats): string {
  const rate = stats.requests === 0 ? 0 : stats.errors / stats.requests;
  const p99 = stats.p99Ms === undefined ? 'no p99' : `p99 ${ms(stats.p99Ms)}`;
  return `${version}'s ${stats.requests} calls (${percent(rate)} failed, ${p99})`;
}
