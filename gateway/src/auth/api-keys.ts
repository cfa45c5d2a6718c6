import { createHash } from 'node:crypto';
import type { ApiKeyConfig, Scope } from '../config.js';

/** Tells which scopes a presented key carries; undefined for a key it does not know. */
export interface ApiKeyVerifier {
  scopesOf(key: string): ReadonlySet<Scope> | undefined;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Keys held only as SHA-256 digests, so a heap dump or a log never shows one. Comparing
 * digests through a map lookup gives an attacker no timing signal about the key itself.
 */
export class HashedApiKeys implements ApiKeyVerifier {
  private readonly byDigest = new Map<string, Set<Scope>>();

  constructor(keys: readonly ApiKeyConfig[]) {
    for (const { scope, key } of keys) {
      const digest = sha256(key);
      const scopes = this.byDigest.get(digest) ?? new Set<Scope>();
      scopes.add(scope);
      // An admin may do everything an invoker may.
      if (scope === 'admin') scopes.add('invoke');
      this.byDigest.set(digest, scopes);
    }
  }

  scopesOf(key: string): ReadonlySet<Scope> | undefined {
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
