import type { RateBucket, RateDecision } from './rate-limit-store.js';

/** A bucket as stored: its tokens (fractional) when it was last looked at. */
export interface BucketState {
  readonly tokens: number;
  readonly at: number;
}

/**
 * One `take` over several buckets at `now`. Pure: the memory store applies it, and the Redis
 * store's Lua script is the same arithmetic line for line (keep the two together). A bucket never
 * seen, or expired, is full. Each bucket refills at perSecond from its last look, up to burst;
 * the call is admitted when every bucket holds a whole token, and then takes one from each.
 * Refused, nothing is taken, and the wait is the longest of the empty buckets'.
 */
export function takeTokens(
  buckets: readonly RateBucket[],
  states: readonly (BucketState | undefined)[],
  now: number,
): { decision: RateDecision; states: BucketState[] } {
  const refilled = buckets.map((b, i) => {
    const state = states[i];
    if (state === undefined) return b.burst;
    const elapsed = Math.max(0, now - state.at);
    return Math.min(b.burst, state.tokens + (elapsed * b.perSecond) / 1000);
  });
  let refusedBy = -1;
  let retryAfterMs = 0;
  for (const [i, b] of buckets.entries()) {
    const tokens = refilled[i] as number;
    if (tokens >= 1) continue;
    const wait = Math.ceil(((1 - tokens) * 1000) / b.perSecond);
    if (wait > retryAfterMs || refusedBy === -1) {
      refusedBy = i;
      retryAfterMs = wait;
    }
  }
  if (refusedBy >= 0) {
    return {
      decision: { allowed: false, bucket: refusedBy, retryAfterMs },
      states: refilled.map((tokens) => ({ tokens, at: now })),
    };
  }
  return { decision: { allowed: true }, states: refilled.map((tokens) => ({ tokens: tokens - 1, at: now })) };
}

/** How long a bucket must be kept: after this it has refilled, and a missing bucket is a full one. */
export function bucketTtlMs(bucket: RateBucket): number {
  return Math.ceil((bucket.burst * 1000) / bucket.perSecond) + 1000;
}
