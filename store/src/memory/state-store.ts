import { type Clock, systemClock } from '@nimbus/api/clock';
import { StateNotAnIntegerError } from '../errors.js';
import type { JsonValue } from '../json-value.js';
import { stateKeyPrefix } from '../keys.js';
import {
  checkExpectedVersion,
  checkIncrement,
  checkStateKey,
  checkTtl,
  encodeStateValue,
  newVersion,
  storedInteger,
} from '../state-input.js';
import {
  type CompareAndSetResult,
  type FunctionStateStore,
  type StateEntry,
  type StateLimits,
  type StateStore,
  type StateWriteOptions,
  stateLimits,
} from '../state-store.js';
import { ExpiringMap } from './expiring-map.js';

interface Stored {
  json: string;
  version: string;
}

/**
 * Function state for local mode, with the Redis adapter's semantics: the same checks, JSON
 * copies in and out, fresh versions, and expiry by the injected clock. Keys are the Redis
 * keys, so scoping works the same way.
 */
export class MemoryStateStore implements StateStore {
  private readonly entries: ExpiringMap<Stored>;
  private readonly limits: StateLimits;

  constructor(
    private readonly clock: Clock = systemClock,
    limits: Partial<StateLimits> = {},
  ) {
    this.entries = new ExpiringMap(clock);
    this.limits = stateLimits(limits);
  }

  scoped(namespace: string, fn: string): FunctionStateStore {
    return new MemoryFunctionState(this.entries, this.clock, stateKeyPrefix(namespace, fn), this.limits);
  }

  async clear(namespace: string, fn: string): Promise<number> {
    const prefix = stateKeyPrefix(namespace, fn);
    let count = 0;
    for (const [key] of this.entries.entries()) {
      if (key.startsWith(prefix) && this.entries.delete(key)) count++;
    }
    return count;
  }

  /** Milliseconds until a key expires; undefined when it has no expiry or is absent (for tests). */
  remainingTtl(namespace: string, fn: string, key: string): number | undefined {
    const expiresAt = this.entries.expiresAt(stateKeyPrefix(namespace, fn) + key);
    return expiresAt === undefined ? undefined : expiresAt - this.clock.now();
  }
}

class MemoryFunctionState implements FunctionStateStore {
  constructor(
    private readonly entries: ExpiringMap<Stored>,
    private readonly clock: Clock,
    private readonly prefix: string,
    private readonly limits: StateLimits,
  ) {}

  async get(key: string): Promise<StateEntry | undefined> {
    const stored = this.entries.get(this.prefix + checkStateKey(key));
    if (stored === undefined) return undefined;
    return { value: JSON.parse(stored.json) as JsonValue, version: stored.version };
  }

  async set(key: string, value: JsonValue, options: StateWriteOptions = {}): Promise<string> {
    checkStateKey(key);
    const json = encodeStateValue(key, value, this.limits.maxValueBytes);
    return this.write(key, json, this.expiry(checkTtl(key, options.ttlMs)));
  }

  async delete(key: string): Promise<boolean> {
    return this.entries.delete(this.prefix + checkStateKey(key));
  }

  async incr(key: string, by = 1): Promise<number> {
    checkStateKey(key);
    checkIncrement(key, by);
    const stored = this.entries.get(this.prefix + key);
    const current = stored === undefined ? 0 : storedInteger(stored.json);
    if (current === undefined)
      throw new StateNotAnIntegerError(key, 'incr needs a stored value that is a safe integer');
    const next = current + by;
    if (!Number.isSafeInteger(next))
      throw new StateNotAnIntegerError(key, `incr by ${by} would leave the safe-integer range`);
    this.write(key, String(next), this.entries.expiresAt(this.prefix + key));
    return next;
  }

  async compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: JsonValue,
    options: StateWriteOptions = {},
  ): Promise<CompareAndSetResult> {
    checkStateKey(key);
    const expected = checkExpectedVersion(key, expectedVersion);
    const json = encodeStateValue(key, value, this.limits.maxValueBytes);
    const expiresAt = this.expiry(checkTtl(key, options.ttlMs));
    const current = this.entries.get(this.prefix + key)?.version ?? null;
    if (current !== expected) return { ok: false, currentVersion: current };
    return { ok: true, version: this.write(key, json, expiresAt) };
  }

  private expiry(ttlMs: number | undefined): number | undefined {
    return ttlMs === undefined ? undefined : this.clock.now() + ttlMs;
  }

  private write(key: string, json: string, expiresAt: number | undefined): string {
    const version = newVersion();
    this.entries.set(this.prefix + key, { json, version }, expiresAt);
    return version;
  }
}
