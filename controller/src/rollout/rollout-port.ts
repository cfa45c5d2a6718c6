import type { FunctionResource, RolloutStatus, TrafficStatus } from '@nimbus/api';
import type { Verdict } from '../reconcile/status.js';

/** The condition a Function with spec.rollout carries: True once a rollout succeeded, False once one was rolled back. */
export const ROLLED_OUT_CONDITION = 'RolledOut';

/** What a versioned Function serves now, as the reconciler writes it to status. */
export interface TrafficPlan {
  /** Resolved entries, adding up to 100: status.traffic, what every gateway applies. */
  readonly traffic: TrafficStatus[];
  /** status.rollout; undefined leaves it out (no rollout ever ran). */
  readonly rollout?: RolloutStatus;
  /** RolledOut; undefined leaves it out. */
  readonly condition?: Verdict;
  /** Worth an Event on the Function: a step taken, a rollout done, rolled back or aborted. */
  readonly event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
  /** Reconcile again after this long even if nothing changes meanwhile (a step's pause ends). */
  readonly requeueAfterMs?: number;
}

/**
 * How a versioned Function's calls are shared now (rollout/rollout-driver.ts): spec.traffic
 * resolved when set (aborting a rollout under way: the one-field rollback), otherwise the
 * rollout's current step, otherwise all to the latest version. `versions` are the kept
 * versions' names, `latest` the one the spec describes now. Called by the reconciler on every
 * reconcile of a versioned Function.
 */
export interface TrafficPlanner {
  plan(fn: FunctionResource, latest: string, versions: readonly string[], now: number): TrafficPlan;
}
