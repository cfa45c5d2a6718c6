import type { AutoscalerConfig } from './config.js';
import { type ConcurrencySample, lastActiveAt, lastBusyAt, windowAverage } from './window.js';

/** A burst being ridden out: replicas only go up until it has been over for a stable window. */
export interface PanicState {
  readonly since: number;
  /** The last decision at which the panic window still asked for `panicThreshold` × ready. */
  readonly lastOverThresholdAt: number;
  /** The most replicas this panic has asked for; it never asks for fewer. */
  readonly floor: number;
}

/** What one decision hands to the next: the decider keeps nothing between calls. */
export interface AutoscalerState {
  readonly desired: number;
  readonly decidedAt: number;
  /** When a request was last seen in flight; the time the function was first seen, until then. */
  readonly lastBusyAt: number;
  readonly panic: PanicState | undefined;
}

export interface ScaleObservation {
  /** The caller's recent samples; those outside the stable window are ignored, so it may pass extra. */
  readonly samples: readonly ConcurrencySample[];
  readonly readyReplicas: number;
}

export type DecisionReason =
  | 'initial-scale'
  | 'no-data'
  | 'stable'
  | 'panic'
  | 'wake'
  | 'rate-limited'
  | 'scale-to-zero'
  | 'scale-to-zero-pending'
  | 'bounded-by-min'
  | 'bounded-by-max';

export interface Decision {
  readonly desired: number;
  /** The rule that settled `desired`, for logs and metrics. */
  readonly reason: DecisionReason;
  readonly state: AutoscalerState;
  /** The window averages the decision saw; undefined when the window held no sample. */
  readonly stableConcurrency: number | undefined;
  readonly panicConcurrency: number | undefined;
}

interface Step {
  desired: number;
  reason: DecisionReason;
  panic: PanicState | undefined;
}

/**
 * Replicas for one function at `now`, in the manner of Knative's KPA (`scaling/autoscaler.go`),
 * with the panic state passed in and returned rather than kept. `previous` is the last decision's
 * state, or undefined for a function not seen before. The rules, in order:
 *
 * - First sight: at least `initialScale`, and at least the ready replicas, so a controller that
 *   restarts (and lost its state) does not shrink a running function before it has data again.
 * - No sample in the stable window: hold the last decision; missing data never scales down.
 * - At zero: stay there until a request is seen that is newer than the last one known (a wake
 *   signal is a sample of the held requests), then go to at least 1 at once.
 * - Want `ceil(average / (target × utilisation))` over each window, limited per decision to
 *   `[floor(ready / maxScaleDownRate), ceil(ready × maxScaleUpRate)]`.
 * - Panic when the panic window wants `panicThreshold` × ready; while panicking take the larger of
 *   the two windows and never go below what the panic asked for before. Panic ends once the
 *   threshold has not been met for a whole stable window.
 * - With `min: 0`, not panicking and no request seen for `scaleToZeroAfterMs`: head for zero
 *   (still at the scale-down rate). Before that, never below 1.
 * - Finally `[min, max]`, which outrank the rates: an operator's new bound applies at once.
 */
export function decideScale(
  config: AutoscalerConfig,
  observed: ScaleObservation,
  previous: AutoscalerState | undefined,
  now: number,
): Decision {
  const { samples, readyReplicas } = observed;
  const stableConcurrency = windowAverage(samples, now, config.stableWindowMs);
  const panicConcurrency = windowAverage(samples, now, config.panicWindowMs);
  // Idle time counts from the last activity the meters saw, short requests between samples too;
  // a wake needs demand seen in a sample (a held request), never an old request reported late.
  const activeAt = lastActiveAt(samples, now, config.stableWindowMs);
  const busyAt = lastBusyAt(samples, now, config.stableWindowMs);
  const prior = previous ?? firstSight(config, readyReplicas, now);
  const lastBusy = Math.max(prior.lastBusyAt, activeAt ?? prior.lastBusyAt);

  let step: Step;
  if (stableConcurrency === undefined) {
    step = { desired: prior.desired, reason: previous ? 'no-data' : 'initial-scale', panic: prior.panic };
  } else {
    const freshDemand = busyAt !== undefined && (previous === undefined || busyAt > previous.lastBusyAt);
    step = fromWindows(
      config,
      prior,
      readyReplicas,
      stableConcurrency,
      panicConcurrency,
      lastBusy,
      freshDemand,
      now,
    );
    if (previous === undefined && step.desired <= prior.desired) {
      step = { ...step, desired: prior.desired, reason: 'initial-scale' };
    }
  }

  let { desired, reason } = step;
  if (desired < config.min) {
    desired = config.min;
    reason = 'bounded-by-min';
  }
  if (desired > config.max) {
    desired = config.max;
    reason = 'bounded-by-max';
  }
  return {
    desired,
    reason,
    state: { desired, decidedAt: now, lastBusyAt: lastBusy, panic: step.panic },
    stableConcurrency,
    panicConcurrency,
  };
}

/**
 * The busy time of a function first seen at zero: any request after it, even one in the same
 * millisecond, is fresh demand that wakes it.
 */
const NEVER_BUSY = Number.NEGATIVE_INFINITY;

/**
 * The state of a function whose replicas a previous leader (or a previous run) decided: what runs
 * now is taken as the last decision, so a new leader neither wakes a function at zero nor shrinks
 * a busy one before it has samples of its own. More than one ready replica starts in panic, for
 * the same reason as on first sight. Pure.
 */
export function resumedState(replicas: number, readyReplicas: number, now: number): AutoscalerState {
  const panic =
    readyReplicas > 1
      ? { since: now, lastOverThresholdAt: now, floor: Math.max(replicas, readyReplicas) }
      : undefined;
  return { desired: replicas, decidedAt: now, lastBusyAt: replicas === 0 ? NEVER_BUSY : now, panic };
}

/**
 * The state standing in for a previous decision on a function's first decision. Being first seen
 * counts as being busy, so an idle new function keeps its initial replicas for `scaleToZeroAfter`.
 * With more than one replica ready this starts in panic, as Knative does: the samples that would
 * justify those replicas are gone with the old state, so it holds them for a stable window.
 */
function firstSight(config: AutoscalerConfig, readyReplicas: number, now: number): AutoscalerState {
  const desired = Math.max(config.initialScale, readyReplicas);
  const panic =
    readyReplicas > 1 ? { since: now, lastOverThresholdAt: now, floor: readyReplicas } : undefined;
  return { desired, decidedAt: now, lastBusyAt: desired === 0 ? NEVER_BUSY : now, panic };
}

function fromWindows(
  config: AutoscalerConfig,
  prior: AutoscalerState,
  readyReplicas: number,
  stableConcurrency: number,
  panicConcurrency: number | undefined,
  lastBusy: number,
  freshDemand: boolean,
  now: number,
): Step {
  const waking = prior.desired === 0;
  if (waking && !freshDemand) return { desired: 0, reason: 'scale-to-zero', panic: undefined };

  const perReplica = config.target * config.utilisation;
  const wantStable = replicasFor(stableConcurrency, perReplica);
  // An empty panic window (a late reporter) gives no reason to panic, and is no reason to go down.
  const wantPanic = panicConcurrency === undefined ? 0 : replicasFor(panicConcurrency, perReplica);
  // As Knative: no ready replica counts as one, so the rates and the threshold stay defined.
  const base = Math.max(1, readyReplicas);
  const upTo = Math.ceil(config.maxScaleUpRate * base);
  const downTo = Math.floor(base / config.maxScaleDownRate);
  const limit = (n: number): number => Math.min(Math.max(n, downTo), upTo);

  let panic = prior.panic;
  if (wantPanic / base >= config.panicThreshold) {
    panic = { since: panic?.since ?? now, lastOverThresholdAt: now, floor: panic?.floor ?? prior.desired };
  } else if (panic !== undefined && now - panic.lastOverThresholdAt >= config.stableWindowMs) {
    panic = undefined;
  }

  let step: Step;
  if (panic !== undefined) {
    // The stable window can want more than the panic one (a burst that just ended); provide for both.
    const desired = Math.max(limit(wantStable), limit(wantPanic), panic.floor);
    const reason = desired < Math.max(wantStable, wantPanic) ? 'rate-limited' : 'panic';
    step = { desired, reason, panic: { ...panic, floor: desired } };
  } else if (!waking && config.min === 0 && now - lastBusy >= config.scaleToZeroAfterMs) {
    const desired = limit(0);
    step = { desired, reason: desired === 0 ? 'scale-to-zero' : 'rate-limited', panic };
  } else {
    const desired = limit(wantStable);
    step = { desired, reason: desired === wantStable ? 'stable' : 'rate-limited', panic };
    if (desired === 0 && config.min === 0) {
      // Idle, but not for scaleToZeroAfter yet: the last replica waits it out.
      step = { ...step, desired: 1, reason: 'scale-to-zero-pending' };
    }
  }
  if (waking) step = { ...step, desired: Math.max(1, step.desired), reason: 'wake' };
  return step;
}

/**
 * `ceil(concurrency / perReplica)`, forgiving the last bits of float error: 2.1 / (3 × 0.7) is
 * 1.0000000000000002 in doubles, and a whole extra replica for that would be a bug.
 */
function replicasFor(concurrency: number, perReplica: number): number {
  return Math.max(0, Math.ceil(concurrency / perReplica - 1e-9));
}
