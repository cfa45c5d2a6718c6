import { createHash } from 'node:crypto';
import type { FunctionRateLimit, RateLimit } from '@nimbus/api';
import type { RateBucket } from '@nimbus/store';

/** Which limit refused a call: the function's, its anonymous callers', one caller's of it, or the caller's key's. */
export type RateScope = 'function' | 'anonymous' | 'caller' | 'key';

/** A token bucket's numbers, `burst` filled in. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** The claims of a verified token that say who signed in. */
export interface SignedIn {
  readonly iss?: string | undefined;
  readonly sub?: string | undefined;
}

/**
 * Who calls: a known API key (its id, a digest prefix, never the key), a verified token's caller,
 * or nobody known.
 */
export type Caller =
  | { readonly keyId: string; readonly keyRate: Rate | undefined }
  | { readonly keyId: undefined; readonly signedIn?: SignedIn | undefined };

/**
 * A verified token's caller as a bucket names it: a digest of its issuer and `sub` (a token without
 * `sub` shares its issuer's), so no claim is written into the shared counters. Pure.
 */
export function signedInAs(claims: SignedIn): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([claims.iss ?? '', claims.sub ?? '']))
    .digest('base64url');
  return `jwt:${digest.slice(0, 22)}`;
}

export interface PlannedBucket extends RateBucket {
  readonly scope: RateScope;
}

/** A spec's limit as a bucket's numbers: burst is requestsPerSecond rounded up unless given. Pure. */
export function rateOf(limit: RateLimit): Rate {
  return {
    perSecond: limit.requestsPerSecond,
    burst: limit.burst ?? Math.max(1, Math.ceil(limit.requestsPerSecond)),
  };
}

/**
 * The buckets one call takes a token from (all or none, atomically). Pure.
 * - the function's, when its spec sets `http.rateLimit`: every caller, sync and async together;
 * - its anonymous callers', when it sets `http.rateLimit.anonymous` and the caller has neither a
 *   known key nor a verified token;
 * - the caller's own for this function, when it sets `http.rateLimit.perCaller`: one per key, one
 *   per signed-in subject;
 * - the key's, when the caller's key has a limit: one bucket across every function it calls.
 */
export function bucketsFor(
  route: { readonly key: string; readonly rateLimit?: FunctionRateLimit | undefined },
  caller: Caller,
): PlannedBucket[] {
  const out: PlannedBucket[] = [];
  const limit = route.rateLimit;
  if (limit !== undefined) {
    out.push({ scope: 'function', key: `fn:${route.key}`, ...rateOf(limit) });
    const signedIn = caller.keyId === undefined ? caller.signedIn : undefined;
    if (caller.keyId === undefined && signedIn === undefined && limit.anonymous !== undefined)
      out.push({ scope: 'anonymous', key: `anon:${route.key}`, ...rateOf(limit.anonymous) });
    if (limit.perCaller !== undefined) {
      // The digest only where a per-caller bucket needs naming, not on every signed-in call.
      const who = caller.keyId ?? (signedIn === undefined ? undefined : signedInAs(signedIn));
      if (who !== undefined)
        out.push({ scope: 'caller', key: `caller:${route.key}:${who}`, ...rateOf(limit.perCaller) });
    }
  }
  if (caller.keyId !== undefined && caller.keyRate !== undefined)
    out.push({ scope: 'key', key: `key:${caller.keyId}`, ...caller.keyRate });
  return out;
}

/** Retry-After is whole seconds: the wait rounded up, and never 0 (which would invite a retry at once). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}
