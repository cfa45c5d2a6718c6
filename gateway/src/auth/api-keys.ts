import { createHash } from 'node:crypto';
import type { ApiKeyConfig, Scope } from '../config.js';
import type { Rate } from '../quotas/rate-limit-plan.js';

/** A known key: its scopes, an id for its rate-limit bucket and logs (a digest prefix), and its rate limit. */
export interface KeyIdentity {
  readonly scopes: ReadonlySet<Scope>;
  readonly id: string;
  readonly rate: Rate | undefined;
}

/** Tells which scopes a presented key carries; undefined for a key it does not know. */
export interface ApiKeyVerifier {
  scopesOf(key: string): ReadonlySet<Scope> | undefined;
  /** The key's identity, for rate limits; optional so a test's verifier may leave keys unlimited. */
  identify?(key: string): KeyIdentity | undefined;
  /** Whether any key has a rate limit: when none has, a call's key need not be looked up for one. */
  readonly limited?: boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Keys held only as SHA-256 digests, so a heap dump or a log never shows one. Comparing
 * digests through a map lookup gives an attacker no timing signal about the key itself.
 */
export class HashedApiKeys implements ApiKeyVerifier {
  private readonly byDigest = new Map<string, { scopes: Set<Scope>; id: string; rate: Rate | undefined }>();
  readonly limited: boolean;

  /** `defaultRate`: the limit of a key that names none of its own (NIMBUS_KEY_RATE_LIMIT). */
  constructor(keys: readonly ApiKeyConfig[], defaultRate?: Rate) {
    for (const { scope, key, rate } of keys) {
      const digest = sha256(key);
      const entry = this.byDigest.get(digest) ?? {
        scopes: new Set<Scope>(),
        id: digest.slice(0, 16),
        rate: undefined,
      };
      entry.scopes.add(scope);
      // An admin may do everything an invoker may.
      if (scope === 'admin') entry.scopes.add('invoke');
      entry.rate = rate ?? entry.rate;
      this.byDigest.set(digest, entry);
    }
    for (const entry of this.byDigest.values()) entry.rate ??= defaultRate;
    this.limited = [...this.byDigest.values()].some((e) => e.rate !== undefined);
  }

  scopesOf(key: string): ReadonlySet<Scope> | undefined {
    return this.byDigest.get(sha256(key))?.scopes;
  }

  identify(key: string): KeyIdentity | undefined {
    return this.byDigest.get(sha256(key));
  }
}

/** The key from `Authorization: Bearer <key>`, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}
