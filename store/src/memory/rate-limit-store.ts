import { type Clock, systemClock } from '@nimbus/api/clock';
import {
  type RateBucket,
  type RateDecision,
  type RateLimitStore,
  checkBuckets,
} from '../rate-limit-store.js';
import { type BucketState, bucketTtlMs, takeTokens } from '../token-bucket.js';
import { ExpiringMap } from './expiring-map.js';

/** Token buckets for local mode (one gateway process), on the injected clock. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly buckets: ExpiringMap<BucketState>;
  private takes = 0;

  constructor(private readonly clock: Clock = systemClock) {
    this.buckets = new ExpiringMap(clock);
  }

  async take(buckets: readonly RateBucket[]): Promise<RateDecision> {
    checkBuckets(buckets);
    const now = this.clock.now();
    const { decision, states } = takeTokens(
      buckets,
      buckets.map((b) => this.buckets.get(b.key)),
      now,
    );
    for (const [i, b] of buckets.entries())
      this.buckets.set(b.key, states[i] as BucketState, now + bucketTtlMs(b));
    // A full bucket is the same as none: sweep now and then, so a flood of callers leaves no garbage.
    if (++this.takes % 1024 === 0) this.buckets.entries();
    return decision;
  }
}
