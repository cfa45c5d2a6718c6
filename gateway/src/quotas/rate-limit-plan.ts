import type { FunctionRateLimit, RateLimit } from '@nimbus/api';
import type { RateBucket } from '@nimbus/store';

/** Which limit refused a call: the function's, its anonymous callers', or the caller's key's. */
export type RateScope = 'function' | 'anonymous' | 'key';

/** A token bucket's numbers, `burst` filled in. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** Who calls: a known API key (its id, a digest prefix, never the key) or nobody known. */
export type Caller =
  | { readonly keyId: string; readonly keyRate: Rate | undefined }
  | { readonly keyId: undefined };

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
 * - its anonymous callers', when it sets `http.rateLimit.anonymous` and the caller has no known key;
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
    if (caller.keyId === undefined && limit.anonymous !== undefined)
      out.push({ scope: 'anonymous', key: `anon:${route.key}`, ...rateOf(limit.anonymous) });
  }
  if (caller.keyId !== undefined && caller.keyRate !== undefined)
    out.push({ scope: 'key', key: `key:${caller.keyId}`, ...caller.keyRate });
  return out;
}

/** Retry-After is whole seconds: the wait rounded up, and never 0 (which would invite a retry at once). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}
