/**
 * The one exponential backoff: retry `attempt` (1 for the first) waits `baseMs·2^(attempt-1)`,
 * capped at `maxMs`, then jittered so that clients that failed together do not come back together:
 * - `none`: exactly the step (a work queue or a restart, where one caller retries alone);
 * - `equal`: the step less up to half of it, so no wait is shorter than half its step;
 * - `full`: anywhere from 0 to the step.
 */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly jitter?: 'none' | 'equal' | 'full';
}

/** `random` is in [0, 1); tests pass a fixed one. */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  // Past 2^40 every realistic base is over any cap; the clamp keeps the product finite.
  const exponent = Math.min(Math.max(attempt - 1, 0), 40);
  const step = Math.min(backoff.maxMs, backoff.baseMs * 2 ** exponent);
  switch (backoff.jitter ?? 'none') {
    case 'none':
      return step;
    case 'equal':
      return Math.round(step / 2 + (step / 2) * random());
    case 'full':
      return Math.round(step * random());
  }
}
