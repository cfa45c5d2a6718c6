import { InvalidStoreInputError } from './errors.js';
import { checkId } from './keys.js';

/** One token bucket a call must take a token from: `perSecond` refilled, at most `burst` held. */
export interface RateBucket {
  /** Names the bucket across replicas, such as `fn:team-a/resize` or `key:3f9c…`. */
  readonly key: string;
  readonly perSecond: number;
  readonly burst: number;
}

/** Admitted, or refused by the bucket at `bucket` (its index), which has a token again after `retryAfterMs`. */
export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly bucket: number; readonly retryAfterMs: number };

/**
 * Rate-limit counters shared by every gateway replica (DESIGN §6). `take` is atomic over all
 * the buckets it is given: a call takes one token from each, or from none when any is empty, so
 * a caller refused by its key's limit does not also use up the function's.
 */
export interface RateLimitStore {
  take(buckets: readonly RateBucket[]): Promise<RateDecision>;
}

/** More buckets than a call can belong to (function, anonymous, key) is a caller's bug. */
export const MAX_BUCKETS_PER_TAKE = 8;

export function checkBuckets(buckets: readonly RateBucket[]): void {
  if (buckets.length === 0 || buckets.length > MAX_BUCKETS_PER_TAKE)
    throw new InvalidStoreInputError(`take needs 1-${MAX_BUCKETS_PER_TAKE} buckets, got ${buckets.length}`);
  for (const { key, perSecond, burst } of buckets) {
    checkId('rate bucket', key);
    if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0)
      throw new InvalidStoreInputError(
        `bucket ${key}: perSecond must be a positive number, got ${perSecond}`,
      );
    if (!Number.isSafeInteger(burst) || burst < 1)
      throw new InvalidStoreInputError(
        `bucket ${key}: burst must be a whole number of at least 1, got ${burst}`,
      );
  }
}
