import type { Redis } from 'ioredis';
import { StateNotAnIntegerError, StateUnavailableError, StoreCommandError } from '../errors.js';
import type { JsonValue } from '../json-value.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, stateKeyPrefix } from '../keys.js';
import {
  checkExpectedVersion,
  checkIncrement,
  checkStateKey,
  checkTtl,
  encodeStateValue,
  newVersion,
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
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

// Each state key is a hash { v: the JSON text, ver: its version }. A write without a TTL
// clears any expiry (as Redis SET does); incr keeps it (as INCR does).

const WRITE = `
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'ver', ARGV[2])
if ARGV[3] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end`;

/** ARGV: json, version, ttlMs ('' for none). */
const setScript = redisScript('nimbusStateSet', 1, `${WRITE}\nreturn ARGV[2]`);

/** ARGV: json, version, ttlMs, expected version ('' for "absent"). Returns {1, version} or {0, current or ''}. */
const compareAndSetScript = redisScript(
  'nimbusStateCompareAndSet',
  1,
  `local current = redis.call('HGET', KEYS[1], 'ver') or ''
if current ~= ARGV[4] then return {0, current} end
${WRITE}
return {1, ARGV[2]}`,
);

/**
 * ARGV: amount, version. Returns {1, new value as text}, {0} when the stored value is not a
 * safe integer, {-1} when the sum would leave the safe-integer range.
 */
const incrScript = redisScript(
  'nimbusStateIncr',
  1,
  `local max = 9007199254740991
local json = redis.call('HGET', KEYS[1], 'v')
local n = 0
if json then
  if #json > 17 or not string.match(json, '^%-?%d+$') then return {0} end
  n = tonumber(json)
  if math.abs(n) > max then return {0} end
end
local sum = n + tonumber(ARGV[1])
if math.abs(sum) > max then return {-1} end
local text = string.format('%.0f', sum)
redis.call('HSET', KEYS[1], 'v', text, 'ver', ARGV[2])
return {1, text}`,
);

/** The Redis commands a function's state client runs, inside the scripts above or directly (for its ACL user). */
export const STATE_CLIENT_COMMANDS: readonly string[] = Object.freeze([
  'evalsha',
  'eval',
  'hmget',
  'hget',
  'hset',
  'del',
  'pexpire',
  'persist',
]);

export interface RedisStateStoreOptions {
  limits?: Partial<StateLimits>;
  /** The key root, `nimbus` by default (see keys.ts). */
  root?: string;
}

/** Function state in Redis: the adapter behind ctx.state in a cluster. */
export class RedisStateStore implements StateStore {
  private readonly limits: StateLimits;
  private readonly root: string;

  constructor(
    private readonly connection: RedisConnection,
    options: RedisStateStoreOptions = {},
  ) {
    this.limits = stateLimits(options.limits);
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  scoped(namespace: string, fn: string): FunctionStateStore {
    const prefix = stateKeyPrefix(namespace, fn, this.root);
    return new RedisFunctionState(this.connection, prefix, `${namespace}/${fn}`, this.limits);
  }

  /** SCAN and UNLINK, in batches: the function's key space may be large and Redis must stay responsive. */
  async clear(namespace: string, fn: string): Promise<number> {
    const prefix = stateKeyPrefix(namespace, fn, this.root);
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await this.connection.run(
        `clearing the state of ${namespace}/${fn}`,
        (c) => c.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500),
        StateUnavailableError,
      );
      cursor = next;
      if (keys.length > 0)
        count += await this.connection.run(
          `clearing the state of ${namespace}/${fn}`,
          (c) => c.unlink(...keys),
          StateUnavailableError,
        );
    } while (cursor !== '0');
    return count;
  }
}

class RedisFunctionState implements FunctionStateStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    private readonly owner: string,
    private readonly limits: StateLimits,
  ) {}

  async get(key: string): Promise<StateEntry | undefined> {
    checkStateKey(key);
    const [json, version] = await this.run('get', key, (c) => c.hmget(this.prefix + key, 'v', 'ver'));
    if (json === null || json === undefined || version === null || version === undefined) return undefined;
    return { value: JSON.parse(json) as JsonValue, version };
  }

  async set(key: string, value: JsonValue, options: StateWriteOptions = {}): Promise<string> {
    checkStateKey(key);
    const json = encodeStateValue(key, value, this.limits.maxValueBytes);
    const ttl = checkTtl(key, options.ttlMs);
    const version = newVersion();
    await this.run('set', key, (c) => setScript(c, [this.prefix + key], [json, version, ttl ?? '']));
    return version;
  }

  async delete(key: string): Promise<boolean> {
    checkStateKey(key);
    return (await this.run('delete', key, (c) => c.del(this.prefix + key))) > 0;
  }

  async incr(key: string, by = 1): Promise<number> {
    checkStateKey(key);
    checkIncrement(key, by);
    const reply = await this.run('incr', key, (c) => incrScript(c, [this.prefix + key], [by, newVersion()]));
    const [status, text] = replyTuple(reply, `state incr "${key}"`);
    if (status === 0)
      throw new StateNotAnIntegerError(key, 'incr needs a stored value that is a safe integer');
    if (status === -1)
      throw new StateNotAnIntegerError(key, `incr by ${by} would leave the safe-integer range`);
    return Number(text);
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
    const ttl = checkTtl(key, options.ttlMs);
    const version = newVersion();
    const reply = await this.run('compareAndSet', key, (c) =>
      compareAndSetScript(c, [this.prefix + key], [json, version, ttl ?? '', expected ?? '']),
    );
    const [status, current] = replyTuple(reply, `state compareAndSet "${key}"`);
    if (status === 1) return { ok: true, version };
    return { ok: false, currentVersion: current === '' || current === undefined ? null : current };
  }

  private run<T>(operation: string, key: string, command: (client: Redis) => Promise<T>): Promise<T> {
    return this.connection.run(
      `state ${operation} of key ${JSON.stringify(key)} for ${this.owner}`,
      command,
      StateUnavailableError,
    );
  }
}

/** A script's {status, text?} reply. */
function replyTuple(reply: unknown, operation: string): [number, string | undefined] {
  if (
    Array.isArray(reply) &&
    typeof reply[0] === 'number' &&
    (reply[1] === undefined || typeof reply[1] === 'string')
  )
    return [reply[0], reply[1]];
  throw new StoreCommandError(`${operation}: unexpected reply from Redis: ${JSON.stringify(reply)}`);
}
