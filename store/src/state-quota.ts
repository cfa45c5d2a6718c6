import { StateQuotaExceededError } from './errors.js';
import type { StateLimits, StateUsage } from './state-store.js';

/** The quotas a write is checked against. */
export type StateQuota = 'maxKeys' | 'maxBytes';

/**
 * What a key counts against its function's byte quota: the key and its value's JSON text, in
 * UTF-8. Redis keeps some overhead per key besides; maxKeys bounds that part.
 */
export function entryBytes(key: string, json: string): number {
  return Buffer.byteLength(key, 'utf8') + Buffer.byteLength(json, 'utf8');
}

/**
 * Whether a write of `nextBytes` to a key now holding `previousBytes` (undefined: absent) keeps
 * the function inside its quotas. A write that adds no key and does not grow is always allowed,
 * so a function over a lowered quota can still shrink or delete its way back under it.
 * The Redis adapter's Lua scripts make the same decision on the server (redis/state-store.ts).
 */
export function quotaRefusal(
  usage: StateUsage,
  previousBytes: number | undefined,
  nextBytes: number,
  limits: Pick<StateLimits, 'maxKeys' | 'maxBytes'>,
): { quota: StateQuota; would: number; limit: number } | undefined {
  if (previousBytes === undefined && usage.keys + 1 > limits.maxKeys)
    return { quota: 'maxKeys', would: usage.keys + 1, limit: limits.maxKeys };
  const bytes = usage.bytes - (previousBytes ?? 0) + nextBytes;
  if (nextBytes > (previousBytes ?? 0) && bytes > limits.maxBytes)
    return { quota: 'maxBytes', would: bytes, limit: limits.maxBytes };
  return undefined;
}

/** Throws the error for a refusal from {@link quotaRefusal} (or the Redis script's equivalent). */
export function throwQuotaRefusal(
  key: string,
  refusal: { quota: StateQuota; would: number; limit: number } | undefined,
): void {
  if (refusal !== undefined)
    throw new StateQuotaExceededError(key, refusal.quota, refusal.would, refusal.limit);
}
