/**
 * Short exclusive claims with an owner and a TTL: a cron tick is claimed under a key naming
 * the schedule and the tick, so across all gateway replicas exactly one fires it.
 */
export interface ClaimStore {
  /** True when this owner now holds the key (it was free); false when someone holds it. */
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Frees the key only when `owner` still holds it; resolves whether it did. */
  release(key: string, owner: string): Promise<boolean>;
}
