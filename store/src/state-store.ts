import { InvalidStoreInputError } from './errors.js';
import type { JsonValue } from './json-value.js';

/** A stored value and its version: an opaque string that changes on every write. */
export interface StateEntry {
  value: JsonValue;
  version: string;
}

export interface StateWriteOptions {
  /** Expire the key this long after the write; without it a set or compareAndSet clears any expiry. */
  ttlMs?: number;
}

export type CompareAndSetResult =
  | { ok: true; version: string }
  | {
      ok: false;
      /** The version that is there now; null when the key is absent. */
      currentVersion: string | null;
    };

/** One function's key space (DESIGN §6): what ctx.state is built on. */
export interface FunctionStateStore {
  get(key: string): Promise<StateEntry | undefined>;
  /** Writes the value and resolves its new version. */
  set(key: string, value: JsonValue, options?: StateWriteOptions): Promise<string>;
  /** Resolves whether there was a key to delete. */
  delete(key: string): Promise<boolean>;
  /**
   * Adds `by` (a safe integer, default 1) to an integer value; a missing key counts as 0.
   * Keeps the key's expiry. Refuses a stored value that is not a safe integer.
   */
  incr(key: string, by?: number): Promise<number>;
  /**
   * Writes only if the key's version is still `expectedVersion`; null means "only if absent".
   * The optimistic-concurrency primitive (ETag style): read, compute, compareAndSet, retry on conflict.
   */
  compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: JsonValue,
    options?: StateWriteOptions,
  ): Promise<CompareAndSetResult>;
}

export interface StateStore {
  /**
   * The key space of one function; names are Kubernetes names (checked). `limits` overrides the
   * store's own for this function (a Function's spec.state quota).
   */
  scoped(namespace: string, fn: string, limits?: Partial<StateLimits>): FunctionStateStore;
  /** What the function's state holds now (expired keys no longer count). */
  usage(namespace: string, fn: string): Promise<StateUsage>;
  /** Deletes every key of one function (the controller's finalizer); resolves how many. */
  clear(namespace: string, fn: string): Promise<number>;
}

/**
 * What one function may write. Both adapters enforce all three where the function cannot reach:
 * in the supervisor (local mode) or the gateway's state service, the quotas atomically with the
 * write (in Redis, inside the adapter's own Lua scripts).
 */
/** What one function's state holds now: live keys, and their bytes as state-quota.ts's entryBytes counts them. */
export interface StateUsage {
  keys: number;
  bytes: number;
}

export interface StateLimits {
  /** Largest value accepted, in bytes of its JSON text. */
  maxValueBytes: number;
  /** Most keys one function may hold. */
  maxKeys: number;
  /** Most bytes one function may hold: its keys and their values' JSON text (see entryBytes). */
  maxBytes: number;
}

export const DEFAULT_STATE_LIMITS: Readonly<StateLimits> = Object.freeze({
  maxValueBytes: 64 * 1024,
  maxKeys: 10_000,
  maxBytes: 16 * 1024 * 1024,
});

/** The limits with defaults filled in; both adapters take them through here so they agree. */
export function stateLimits(
  limits: Partial<StateLimits> = {},
  base: StateLimits = DEFAULT_STATE_LIMITS,
): StateLimits {
  const resolved = { ...base };
  for (const [name, value] of Object.entries(limits) as [keyof StateLimits, number | undefined][])
    if (value !== undefined) resolved[name] = value;
  for (const name of ['maxValueBytes', 'maxKeys', 'maxBytes'] as const)
    if (!Number.isSafeInteger(resolved[name]) || resolved[name] <= 0)
      throw new InvalidStoreInputError(`${name} must be a positive whole number, got ${resolved[name]}`);
  return resolved;
}
