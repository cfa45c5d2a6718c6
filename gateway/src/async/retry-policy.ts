import { type FunctionSpec, backoffDelay, isDuration, parseDuration } from '@nimbus/api';

/** A Function's `spec.async`, resolved to numbers. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly retryOn: ReadonlySet<number>;
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The schema's defaults. The API server and local mode fill them in, so these only matter for an
 * object stored before `spec.async` existed.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  retryOn: new Set([429, 500, 502, 503, 504]),
  initialMs: 1_000,
  maxMs: 300_000,
});

const durationOr = (text: unknown, fallback: number): number =>
  typeof text === 'string' && isDuration(text) ? parseDuration(text) : fallback;

/** The retry policy of a Function's spec; what is missing or out of range falls back to the defaults. Pure. */
export function retryPolicyOf(spec: Partial<FunctionSpec> | undefined): RetryPolicy {
  const given = spec?.async;
  if (given === undefined) return DEFAULT_RETRY_POLICY;
  const maxAttempts =
    Number.isSafeInteger(given.maxAttempts) && given.maxAttempts >= 1 && given.maxAttempts <= 100
      ? given.maxAttempts
      : DEFAULT_RETRY_POLICY.maxAttempts;
  const retryOn = Array.isArray(given.retryOn)
    ? new Set(given.retryOn.filter((code) => Number.isInteger(code)))
    : DEFAULT_RETRY_POLICY.retryOn;
  const initialMs = Math.max(1, durationOr(given.backoff?.initial, DEFAULT_RETRY_POLICY.initialMs));
  const maxMs = Math.max(initialMs, durationOr(given.backoff?.max, DEFAULT_RETRY_POLICY.maxMs));
  return { maxAttempts, retryOn, initialMs, maxMs };
}

/**
 * The wait before the attempt after attempt `attempt` (1 for the first): initial·2^(attempt-1),
 * capped at max, then jittered down by up to half ("equal jitter"), so calls that failed together
 * do not all come back together, and no wait is shorter than half its step. `random` is in [0, 1).
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: number): number {
  return backoffDelay(
    { baseMs: policy.initialMs, maxMs: policy.maxMs, jitter: 'equal' },
    attempt,
    () => random,
  );
}

/**
 * `Retry-After` in milliseconds from `now`: delta-seconds, or an HTTP date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable; 0 for a date already past.
 */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse also takes forms such as "1" or "2024"; an HTTP date names a weekday.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** How one attempt ended, as far as retrying goes. */
export type AttemptOutcome =
  /** The function answered. */
  | { readonly kind: 'response'; readonly status: number; readonly retryAfterMs?: number }
  /** No answer from a replica: refused, reset or cut short, or none became ready. */
  | { readonly kind: 'unreachable'; readonly status: number }
  /** The function is gone or refused for good (for example removed while the call waited). */
  | { readonly kind: 'refused'; readonly status: number };

export type AttemptDecision =
  | { readonly action: 'succeed' }
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'fail'; readonly reason: 'attempts-exhausted' | 'not-retryable' };

/**
 * What to do after attempt number `attempts` ended with `outcome`. Pure: the caller passes the
 * random number that jitters the backoff. A `Retry-After` from the function is honoured in place
 * of the backoff, but never beyond the policy's max, so one answer cannot park a call for a day.
 */
export function decideAfterAttempt(
  policy: RetryPolicy,
  attempts: number,
  outcome: AttemptOutcome,
  random: number,
): AttemptDecision {
  if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300)
    return { action: 'succeed' };
  const retryable =
    outcome.kind === 'unreachable' || (outcome.kind === 'response' && policy.retryOn.has(outcome.status));
  if (!retryable) return { action: 'fail', reason: 'not-retryable' };
  if (attempts >= policy.maxAttempts) return { action: 'fail', reason: 'attempts-exhausted' };
  const asked = outcome.kind === 'response' ? outcome.retryAfterMs : undefined;
  const delayMs = asked === undefined ? retryDelay(policy, attempts, random) : Math.min(asked, policy.maxMs);
  return { action: 'retry', delayMs };
}
