import type { Clock, Logger } from '@nimbus/api';
import { type JSONWebKeySet, type JWTVerifyGetKey, createLocalJWKSet } from 'jose';
import { type FetchJwks, JwksUnavailableError } from './jwks-fetch.js';

/** How long key sets are kept, and how often an identity provider may be asked for one. */
export interface JwksCachePolicy {
  /** A set older than this is fetched again before it is used. */
  readonly maxAgeMs: number;
  /**
   * At most one fetch per URL in this long, whatever asks for it: a token with a kid the set
   * lacks, a set gone stale, a failed fetch. Random kids from an attacker cost one fetch per
   * cooldown, not one per request.
   */
  readonly cooldownMs: number;
  /** While the identity provider cannot be reached, a set this much past maxAge still serves. */
  readonly staleForMs: number;
  /** Key sets kept at once; beyond it the longest held is dropped. */
  readonly maxUrls: number;
}

export const DEFAULT_JWKS_CACHE_POLICY: JwksCachePolicy = {
  maxAgeMs: 10 * 60_000,
  cooldownMs: 30_000,
  staleForMs: 60 * 60_000,
  maxUrls: 256,
};

interface Entry {
  keys: JWTVerifyGetKey | undefined;
  fetchedAt: number;
  attemptedAt: number;
  error: JwksUnavailableError | undefined;
  inflight: Promise<void> | undefined;
}

/**
 * Key sets by URL, fetched on first use and again when stale, or when a token names a key the
 * set lacks (the identity provider rotated its keys): so a new key is followed without a restart,
 * and a key removed from the set stops verifying at the next fetch. Concurrent requests share one
 * fetch. Time comes from the injected clock.
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly fetchJwks: FetchJwks,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly policy: JwksCachePolicy = DEFAULT_JWKS_CACHE_POLICY,
    /** Where a failed fetch is told, with the address a caller's answer leaves out. */
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  /** The URL's keys, fetched first when there are none or they are stale; throws JwksUnavailableError. */
  async keys(url: string): Promise<JWTVerifyGetKey> {
    const entry = this.entryOf(url);
    const now = this.clock.now();
    if (entry.keys !== undefined && now - entry.fetchedAt < this.policy.maxAgeMs) return entry.keys;
    await this.refresh(entry, url);
    const usable = this.policy.maxAgeMs + this.policy.staleForMs;
    if (entry.keys !== undefined && this.clock.now() - entry.fetchedAt < usable) return entry.keys;
    throw entry.error ?? new JwksUnavailableError('the JWKS has not been fetched yet');
  }

  /**
   * A token names a key the set lacks: fetch the set again, unless one was fetched within the
   * cooldown. The fresh keys, or undefined when no fetch was made or it failed.
   */
  async keysAfterUnknownKey(url: string): Promise<JWTVerifyGetKey | undefined> {
    const entry = this.entryOf(url);
    const before = entry.fetchedAt;
    await this.refresh(entry, url);
    return entry.fetchedAt !== before ? entry.keys : undefined;
  }

  private refresh(entry: Entry, url: string): Promise<void> {
    if (entry.inflight !== undefined) return entry.inflight;
    const now = this.clock.now();
    if (now - entry.attemptedAt < this.policy.cooldownMs) return Promise.resolve();
    entry.attemptedAt = now;
    entry.inflight = this.fetchJwks(url).then(
      (set: JSONWebKeySet) => {
        entry.keys = createLocalJWKSet(set);
        entry.fetchedAt = this.clock.now();
        entry.error = undefined;
        entry.inflight = undefined;
      },
      (err: unknown) => {
        entry.error =
          err instanceof JwksUnavailableError
            ? err
            : new JwksUnavailableError(`the JWKS could not be fetched: ${(err as Error).message}`, {
                cause: err,
              });
        entry.inflight = undefined;
        this.log?.warn('an identity provider key set could not be fetched', {
          url,
          err: entry.error.message,
          stale: entry.keys !== undefined,
        });
      },
    );
    return entry.inflight;
  }

  private entryOf(url: string): Entry {
    let entry = this.entries.get(url);
    if (entry === undefined) {
      if (this.entries.size >= this.policy.maxUrls) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
      }
      entry = {
        keys: undefined,
        fetchedAt: Number.NEGATIVE_INFINITY,
        attemptedAt: Number.NEGATIVE_INFINITY,
        error: undefined,
        inflight: undefined,
      };
      this.entries.set(url, entry);
    }
    return entry;
  }

  /** The number of key sets held (bounded by maxUrls). */
  get size(): number {
    return this.entries.size;
  }
}
