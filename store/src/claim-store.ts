/**
 * Short exclusive claims with an owner and a TTL: a cron tick is claimed under a key naming
 * the schedule and the tick, so across all gateway replicas exactly one fires it; a schedule's
 * run is held under a lease its owner renews while it runs, so a concurrency policy holds
 * across replicas too.
 */
export interface ClaimStore {
  /** True when this owner now holds the key (it was free); false when someone holds it. */
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Frees the key only when `owner` still holds it; resolves whether it did. */
  release(key: string, owner: string): Promise<boolean>;
  /** Who holds the key now, or undefined when it is free. */
  holder(key: string): Promise<string | undefined>;
  /** Extends the owner's hold to `ttlMs` from now; false (and nothing changed) when it no longer holds it. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Takes the key whoever holds it; resolves the owner it took it from, or undefined when it was free. */
  takeOver(key: string, owner: string, ttlMs: number): Promise<string | undefined>;
}
