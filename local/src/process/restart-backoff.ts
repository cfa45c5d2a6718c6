import { backoffDelay } from '@nimbus/api';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** A replica that stayed up this long counts its next crash as the first again. */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000, stableAfterMs: 10_000 };

/** Delay before restarting after the `crashes`-th crash in a row: doubling from base, capped. */
export function restartDelay(crashes: number, policy: BackoffPolicy): number {
  return backoffDelay(policy, crashes);
}

/** The crash count after a crash of a replica that had been up since `upSince` (or never got up). */
export function crashesAfter(
  previous: number,
  upSince: number | undefined,
  now: number,
  policy: BackoffPolicy,
): number {
  if (upSince !== undefined && now - upSince >= policy.stableAfterMs) return 1;
  return previous + 1;
}
