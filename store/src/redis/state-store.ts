import type { Redis } from 'ioredis';
import {
  StateNotAnIntegerError,
  StateStoreFullError,
  StateUnavailableError,
  StoreCommandError,
} from '../errors.js';
import type { JsonValue } from '../json-value.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, stateKeyPrefix, stateQuotaKeys } from '../keys.js';
import {
  checkExpectedVersion,
  checkIncrement,
  checkStateKey,
  checkTtl,
  encodeStateValue,
  newVersion,
} from '../state-input.js';
import { throwQuotaRefusal } from '../state-quota.js';
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
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

// Each state key is a hash { v: the JSON text, ver: its version }. A write without a TTL
// clears any expiry (as Redis SET does); incr keeps it (as INCR does).
//
// Quotas: every write runs in one of the scripts below, which count the function's keys and bytes
// in two keys of its own (keys.ts stateQuotaKeys) and refuse a write that would pass its quota,
// atomically with the write, so concurrent replicas cannot race past it. The index scores each key
// by its expiry (PEXPIREAT, so Redis and the index agree on the millisecond); a write first drops
// the keys whose expiry has passed (Redis has already expired them) from the count. The function
// itself never runs these scripts: the gateway's state service or local mode's supervisor does.
//
// `#!lua` makes Redis (7.0+) refuse a write script at once when it is at maxmemory (noeviction),
// before it changes anything; delete may run then (allow-oom), since it frees memory.

/** KEYS: data, index, usage. */
const PRELUDE = `
local TOTAL = '\\0bytes'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function sweep(now)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', now), 'LIMIT', 0, 1000)
  for _, member in ipairs(gone) do
    local size = tonumber(redis.call('HGET', KEYS[3], member) or '0')
    redis.call('HINCRBY', KEYS[3], TOTAL, -size)
    redis.call('HDEL', KEYS[3], member)
    redis.call('ZREM', KEYS[2], member)
  end
end
-- The same decision as quotaRefusal in state-quota.ts.
local function refusal(previous, bytes, max_keys, max_bytes)
  if not previous then
    local keys = redis.call('ZCARD', KEYS[2]) + 1
    if keys > max_keys then return {2, 'maxKeys', keys, max_keys} end
  end
  local prev = tonumber(previous or '0')
  local total = tonumber(redis.call('HGET', KEYS[3], TOTAL) or '0') - prev + bytes
  if bytes > prev and total > max_bytes then return {2, 'maxBytes', total, max_bytes} end
  return nil
end
local function record(member, previous, bytes, expire_at)
  redis.call('HINCRBY', KEYS[3], TOTAL, bytes - tonumber(previous or '0'))
  redis.call('HSET', KEYS[3], member, bytes)
  if expire_at ~= nil then redis.call('ZADD', KEYS[2], expire_at, member) end
end`;

/**
 * ARGV: member, json, version, ttlMs ('' for none), 'set' or 'cas', expected version ('' for
 * "absent"), maxKeys, maxBytes. Returns {1, version}, {0, current or ''} (cas conflict) or
 * {2, quota, would, limit}.
 */
const writeScript = redisScript(
  'nimbusStateWrite',
  3,
  `#!lua
${PRELUDE}
local now = now_ms()
sweep(now)
if ARGV[5] == 'cas' then
  local current = redis.call('HGET', KEYS[1], 'ver') or ''
  if current ~= ARGV[6] then return {0, current} end
end
local previous = redis.call('HGET', KEYS[3], ARGV[1])
local bytes = #ARGV[1] + #ARGV[2]
local refused = refusal(previous, bytes, tonumber(ARGV[7]), tonumber(ARGV[8]))
if refused then return refused end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'ver', ARGV[3])
local expire_at = '+inf'
if ARGV[4] == '' then
  redis.call('PERSIST', KEYS[1])
else
  expire_at = now + tonumber(ARGV[4])
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', expire_at))
  expire_at = string.format('%d', expire_at)
end
record(ARGV[1], previous, bytes, expire_at)
return {1, ARGV[3]}`,
);

/**
 * ARGV: member, amount, version, maxKeys, maxBytes. Returns {1, new value as text}, {3} when the
 * stored value is not a safe integer, {4} when the sum would leave the safe-integer range, or
 * {2, quota, would, limit}.
 */
const incrScript = redisScript(
  'nimbusStateIncr',
  3,
  `#!lua
${PRELUDE}
local now = now_ms()
sweep(now)
local max = 9007199254740991
local json = redis.call('HGET', KEYS[1], 'v')
local n = 0
if json then
  if #json > 17 or not string.match(json, '^%-?%d+$') then return {3} end
  n = tonumber(json)
  if math.abs(n) > max then return {3} end
end
local sum = n + tonumber(ARGV[2])
if math.abs(sum) > max then return {4} end
local text = string.format('%.0f', sum)
local previous = redis.call('HGET', KEYS[3], ARGV[1])
local bytes = #ARGV[1] + #text
local refused = refusal(previous, bytes, tonumber(ARGV[4]), tonumber(ARGV[5]))
if refused then return refused end
redis.call('HSET', KEYS[1], 'v', text, 'ver', ARGV[3])
-- The expiry stays; a key the index does not know yet (written before it existed) joins it with its own.
local expire_at = nil
if not previous then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then expire_at = string.format('%d', now + ttl) else expire_at = '+inf' end
end
record(ARGV[1], previous, bytes, expire_at)
return {1, text}`,
);

/** ARGV: member. Returns how many keys were deleted (0 or 1). */
const deleteScript = redisScript(
  'nimbusStateDelete',
  3,
  `#!lua flags=allow-oom
${PRELUDE}
sweep(now_ms())
local deleted = redis.call('DEL', KEYS[1])
local previous = redis.call('HGET', KEYS[3], ARGV[1])
if previous then
  redis.call('HINCRBY', KEYS[3], TOTAL, -tonumber(previous))
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return deleted`,
);

/** KEYS: index, usage (data unused). Returns {keys, bytes}. */
const usageScript = redisScript(
  'nimbusStateUsage',
  3,
  `#!lua flags=allow-oom
${PRELUDE}
sweep(now_ms())
return {redis.call('ZCARD', KEYS[2]), tonumber(redis.call('HGET', KEYS[3], TOTAL) or '0')}`,
);

export interface RedisStateStoreOptions {
  limits?: Partial<StateLimits>;
  /** The key root, `nimbus` by default (see keys.ts). */
  root?: string;
}

/**
 * Function state in Redis: the adapter behind the gateway's state service (ctx.state in a
 * cluster) and local mode's supervisor when it has a Redis. It runs on a trusted connection;
 * functions never hold Redis credentials.
 */
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

  scoped(namespace: string, fn: string, limits: Partial<StateLimits> = {}): FunctionStateStore {
    return new RedisFunctionState(
      this.connection,
      stateKeyPrefix(namespace, fn, this.root),
      stateQuotaKeys(namespace, fn, this.root),
      `${namespace}/${fn}`,
      stateLimits(limits, this.limits),
    );
  }

  async usage(namespace: string, fn: string): Promise<StateUsage> {
    const { index, usage } = stateQuotaKeys(namespace, fn, this.root);
    const reply = await this.connection.run(
      `reading the state usage of ${namespace}/${fn}`,
      (c) => usageScript(c, [stateKeyPrefix(namespace, fn, this.root), index, usage], []),
      StateUnavailableError,
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number')
      throw new StoreCommandError(`state usage: unexpected reply from Redis: ${JSON.stringify(reply)}`);
    return { keys: reply[0], bytes: reply[1] };
  }

  /**
   * SCAN and UNLINK, in batches: the function's key space may be large and Redis must stay
   * responsive. The quota keys go last, so a clear cut short leaves them counting too much, never too little.
   */
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
    const { index, usage } = stateQuotaKeys(namespace, fn, this.root);
    await this.connection.run(
      `clearing the state of ${namespace}/${fn}`,
      (c) => c.unlink(index, usage),
      StateUnavailableError,
    );
    return count;
  }
}

class RedisFunctionState implements FunctionStateStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    private readonly quotaKeys: { index: string; usage: string },
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
    const reply = await this.run('set', key, (c) =>
      writeScript(c, this.keys(key), [key, json, version, ttl ?? '', 'set', '', ...this.quota()]),
    );
    checkQuotaReply(key, reply);
    return version;
  }

  async delete(key: string): Promise<boolean> {
    checkStateKey(key);
    return (await this.run('delete', key, (c) => deleteScript(c, this.keys(key), [key]))) === 1;
  }

  async incr(key: string, by = 1): Promise<number> {
    checkStateKey(key);
    checkIncrement(key, by);
    const reply = await this.run('incr', key, (c) =>
      incrScript(c, this.keys(key), [key, by, newVersion(), ...this.quota()]),
    );
    checkQuotaReply(key, reply);
    const [status, text] = replyTuple(reply, `state incr "${key}"`);
    if (status === 3)
      throw new StateNotAnIntegerError(key, 'incr needs a stored value that is a safe integer');
    if (status === 4)
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
      writeScript(c, this.keys(key), [key, json, version, ttl ?? '', 'cas', expected ?? '', ...this.quota()]),
    );
    checkQuotaReply(key, reply);
    const [status, current] = replyTuple(reply, `state compareAndSet "${key}"`);
    if (status === 1) return { ok: true, version };
    return { ok: false, currentVersion: current === '' || current === undefined ? null : current };
  }

  private keys(key: string): string[] {
    return [this.prefix + key, this.quotaKeys.index, this.quotaKeys.usage];
  }

  private quota(): [number, number] {
    return [this.limits.maxKeys, this.limits.maxBytes];
  }

  private async run<T>(operation: string, key: string, command: (client: Redis) => Promise<T>): Promise<T> {
    const what = `state ${operation} of key ${JSON.stringify(key)} for ${this.owner}`;
    try {
      return await this.connection.run(what, command, StateUnavailableError);
    } catch (err) {
      // Redis at maxmemory with noeviction refuses writes: full for every function, not this one's fault.
      if (err instanceof StoreCommandError && /\bOOM\b/.test(err.message))
        throw new StateStoreFullError(
          `${what}: the state store is full (Redis is at its maxmemory and refuses writes); reads and deletes still work`,
          { cause: err },
        );
      throw err;
    }
  }
}

/** Throws when a write script answered {2, quota, would, limit}. */
function checkQuotaReply(key: string, reply: unknown): void {
  if (!Array.isArray(reply) || reply[0] !== 2) return;
  const [, quota, would, limit] = reply as [number, unknown, unknown, unknown];
  if ((quota !== 'maxKeys' && quota !== 'maxBytes') || typeof would !== 'number' || typeof limit !== 'number')
    throw new StoreCommandError(
      `state key ${JSON.stringify(key)}: unexpected reply from Redis: ${JSON.stringify(reply)}`,
    );
  throwQuotaRefusal(key, { quota, would, limit });
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
