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

/**
 * The key a request presents, or undefined: `Authorization: Bearer <key>`, or HTTP Basic with
 * the key as the password (`faas-cli login` sends Basic; the user name is not checked, the key
 * is the secret). An empty `Bearer ` (what faas-cli sends with no credentials) presents none.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 7) return undefined;
  const scheme = header.slice(0, 6).toLowerCase();
  if (scheme === 'basic ') return basicPassword(header.slice(6).trim());
  if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}

/** The password of `user:password`, base64 encoded; undefined unless well formed and non-empty. */
function basicPassword(encoded: string): string | undefined {
  // Strict base64 only: Buffer.from would skip what is not, and read garbage as a key.
  if (encoded === '' || encoded.length > 4096 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const password = decoded.slice(colon + 1);
  return password === '' ? undefined : password;
}
