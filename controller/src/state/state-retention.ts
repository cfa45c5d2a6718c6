import { type Condition, type FunctionState, parseDuration } from '@nimbus/api';

/**
 * What becomes of a function's keys once spec.state is turned off, decided as a PersistentVolume's
 * reclaim policy is: kept by default, deleted only when the operator asks (deletionPolicy Delete,
 * or retainFor has passed) or when the Function itself is deleted (its finalizer's cleanup, which
 * needs no decision). Pure: the caller reads the record from the status and the time from its
 * Clock, and applies the result.
 */

/** The condition that says whether a function with state turned off still has its keys, and until when. */
export const RETAINED_CONDITION = 'StateRetained';

/** What the Function's status says of its keys, read back on every reconcile. */
export interface RetentionRecord {
  /** Keys may be in Redis: state was on (StateReady was reported) or they are being kept. */
  held: boolean;
  /** When the keys started being kept (StateRetained turned True); undefined: not yet. */
  since: number | undefined;
  /** The keys were deleted after state was turned off, and that was reported. */
  deleted: boolean;
}

export type RetentionDecision =
  /** State is on, or there is nothing of it to keep or delete. */
  | { action: 'none' }
  /** Keep the keys; `until` is when they go (undefined: until the Function is deleted). */
  | { action: 'retain'; since: number; until: number | undefined }
  | { action: 'delete'; why: 'policy' | 'elapsed' };

/** The record in a Function's conditions. Pure. */
export function retentionRecord(conditions: readonly Condition[] | undefined): RetentionRecord {
  const stateReady = conditions?.some((c) => c.type === 'StateReady') ?? false;
  const retained = conditions?.find((c) => c.type === RETAINED_CONDITION);
  const since = retained?.status === 'True' ? Date.parse(retained.lastTransitionTime ?? '') : Number.NaN;
  return {
    held: stateReady || retained?.status === 'True',
    since: Number.isFinite(since) ? since : undefined,
    deleted: retained?.status === 'False',
  };
}

export function decideStateRetention(
  state: FunctionState | undefined,
  record: RetentionRecord,
  now: number,
): RetentionDecision {
  if (state?.enabled === true || !record.held) return { action: 'none' };
  if (state?.deletionPolicy === 'Delete') return { action: 'delete', why: 'policy' };
  const since = record.since ?? now;
  if (state?.retainFor === undefined) return { action: 'retain', since, until: undefined };
  const until = since + parseDuration(state.retainFor);
  return now >= until ? { action: 'delete', why: 'elapsed' } : { action: 'retain', since, until };
}

type Verdict = { status: 'True' | 'False'; reason: string; message: string };

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The StateRetained condition for a decision that kept the keys, or after they were deleted. Pure. */
export function retentionVerdict(
  decision: Exclude<RetentionDecision, { action: 'none' }>,
  state: FunctionState | undefined,
): Verdict {
  if (decision.action === 'delete') {
    return {
      status: 'False',
      reason: 'KeysDeleted',
      message:
        decision.why === 'policy'
          ? 'spec.state is off and its deletionPolicy is Delete: its keys were deleted'
          : `spec.state is off and its retainFor (${state?.retainFor}) has passed: its keys were deleted`,
    };
  }
  if (decision.until === undefined) {
    return {
      status: 'True',
      reason: 'Retained',
      message:
        'spec.state is off: its keys are kept until the Function is deleted (deletionPolicy Retain); turn ' +
        'state on to use them again, or set spec.state.deletionPolicy: Delete or retainFor to let them go',
    };
  }
  return {
    status: 'True',
    reason: 'RetainedUntil',
    message: `spec.state is off: its keys are kept until ${stamp(decision.until)} (retainFor ${state?.retainFor}), then deleted; turn state on to keep them`,
  };
}
