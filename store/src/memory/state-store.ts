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
import { entryBytes, quotaRefusal, throwQuotaRefusal } from '../state-quota.js';
import {
  type CompareAndSetResult,
  type FunctionStateStore,
  type StateEntry,
  type StateLimits,
  type StateStore,
  type StateUsage,
  type StateWriteOptions,
  stateLimits,
} from '../state-store.js';
import { ExpiringMap } from './expiring-map.js';

interface Stored {
  json: string;
  version: string;
}

/**
 * One function's keys and what they count against its quotas, kept up to date on every write
 * so a check costs nothing per key; keys with a TTL leave the count once it has passed, as they
 * do from the Redis adapter's index.
 */
class FunctionSpace {
  readonly entries: ExpiringMap<Stored>;
  private readonly sizes = new Map<string, number>();
  /** Keys with a TTL and when it ends. */
  private readonly expiring = new Map<string, number>();
  private bytes = 0;

  constructor(private readonly clock: Clock) {
    this.entries = new ExpiringMap(clock);
  }

  usage(): StateUsage {
    this.sweep();
    return { keys: this.sizes.size, bytes: this.bytes };
  }

  /** What the key counts now; undefined when it is absent. */
  sizeOf(key: string): number | undefined {
    this.sweep();
    return this.sizes.get(key);
  }

  put(key: string, stored: Stored, bytes: number, expiresAt: number | undefined): void {
    this.sweep();
    this.bytes += bytes - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, bytes);
    if (expiresAt === undefined) this.expiring.delete(key);
    else this.expiring.set(key, expiresAt);
    this.entries.set(key, stored, expiresAt);
  }

  remove(key: string): boolean {
    this.sweep();
    const size = this.sizes.get(key);
    if (size === undefined) return false;
    this.bytes -= size;
    this.sizes.delete(key);
    this.expiring.delete(key);
    return this.entries.delete(key);
  }

  keys(): string[] {
    this.sweep();
    return [...this.sizes.keys()];
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, expiresAt] of this.expiring) {
      if (expiresAt > now) continue;
      this.bytes -= this.sizes.get(key) ?? 0;
      this.sizes.delete(key);
      this.expiring.delete(key);
      this.entries.delete(key);
    }
  }
}

/**
 * Function state for local mode, with the Redis adapter's semantics: the same checks and quotas,
 * JSON copies in and out, fresh versions, and expiry by the injected clock. Keys are the Redis
 * keys, so scoping works the same way.
 */
export class MemoryStateStore implements StateStore {
  private readonly spaces = new Map<string, FunctionSpace>();
  private readonly limits: StateLimits;

  constructor(
    private readonly clock: Clock = systemClock,
    limits: Partial<StateLimits> = {},
  ) {
    this.limits = stateLimits(limits);
  }

  scoped(namespace: string, fn: string, limits: Partial<StateLimits> = {}): FunctionStateStore {
    const prefix = stateKeyPrefix(namespace, fn);
    return new MemoryFunctionState(this.space(prefix), this.clock, prefix, stateLimits(limits, this.limits));
  }

  async usage(namespace: string, fn: string): Promise<StateUsage> {
    return this.space(stateKeyPrefix(namespace, fn)).usage();
  }

  async clear(namespace: string, fn: string): Promise<number> {
    const space = this.space(stateKeyPrefix(namespace, fn));
    let count = 0;
    for (const key of space.keys()) if (space.remove(key)) count++;
    return count;
  }

  /** Milliseconds until a key expires; undefined when it has no expiry or is absent (for tests). */
  remainingTtl(namespace: string, fn: string, key: string): number | undefined {
    const prefix = stateKeyPrefix(namespace, fn);
    const expiresAt = this.space(prefix).entries.expiresAt(prefix + key);
    return expiresAt === undefined ? undefined : expiresAt - this.clock.now();
  }

  private space(prefix: string): FunctionSpace {
    let space = this.spaces.get(prefix);
    if (space === undefined) {
      space = new FunctionSpace(this.clock);
      this.spaces.set(prefix, space);
    }
    return space;
  }
}

class MemoryFunctionState implements FunctionStateStore {
  constructor(
    private readonly space: FunctionSpace,
    private readonly clock: Clock,
    private readonly prefix: string,
    private readonly limits: StateLimits,
  ) {}

  async get(key: string): Promise<StateEntry | undefined> {
    const stored = this.space.entries.get(this.prefix + checkStateKey(key));
    if (stored === undefined) return undefined;
    return { value: JSON.parse(stored.json) as JsonValue, version: stored.version };
  }

  async set(key: string, value: JsonValue, options: StateWriteOptions = {}): Promise<string> {
    checkStateKey(key);
    const json = encodeStateValue(key, value, this.limits.maxValueBytes);
    return this.write(key, json, this.expiry(checkTtl(key, options.ttlMs)));
  }

  async delete(key: string): Promise<boolean> {
    return this.space.remove(this.prefix + checkStateKey(key));
  }

  async incr(key: string, by = 1): Promise<number> {
    checkStateKey(key);
    checkIncrement(key, by);
    const stored = this.space.entries.get(this.prefix + key);
    const current = stored === undefined ? 0 : storedInteger(stored.json);
    if (current === undefined)
      throw new StateNotAnIntegerError(key, 'incr needs a stored value that is a safe integer');
    const next = current + by;
    if (!Number.isSafeInteger(next))
      throw new StateNotAnIntegerError(key, `incr by ${by} would leave the safe-integer range`);
    this.write(key, String(next), this.space.entries.expiresAt(this.prefix + key));
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
    const current = this.space.entries.get(this.prefix + key)?.version ?? null;
    if (current !== expected) return { ok: false, currentVersion: current };
    return { ok: true, version: this.write(key, json, expiresAt) };
  }

  private expiry(ttlMs: number | undefined): number | undefined {
    return ttlMs === undefined ? undefined : this.clock.now() + ttlMs;
  }

  /** Checks the quotas (the same decision the Redis adapter's scripts make) and writes. */
  private write(key: string, json: string, expiresAt: number | undefined): string {
    const bytes = entryBytes(key, json);
    const refusal = quotaRefusal(
      this.space.usage(),
      this.space.sizeOf(this.prefix + key),
      bytes,
      this.limits,
    );
    throwQuotaRefusal(key, refusal);
    const version = newVersion();
    this.space.put(this.prefix + key, { json, version }, bytes, expiresAt);
    return version;
  }
}
