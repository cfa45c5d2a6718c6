import { type Clock, systemClock } from '@nimbus/api/clock';
import { checkQuery, deadLetterMember, encodeCursor, toDeadLetter } from '../dead-letter-input.js';
import {
  type AddedDeadLetter,
  DEFAULT_DEAD_LETTER_LIMITS,
  type DeadLetter,
  type DeadLetterLimits,
  type DeadLetterPage,
  type DeadLetterQuery,
  type DeadLetterStore,
  type NewDeadLetter,
} from '../dead-letter-store.js';
import { StoreCommandError } from '../errors.js';
import { DEFAULT_KEY_ROOT, checkId, checkKeyRoot, deadLetterEntryKey, deadLetterIndexKey } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

// The index keys of an entry follow keys.ts: <base>, <base>:<namespace>, <base>:<namespace>:<function>.
// They are derived inside the scripts from what the entry hash records, so an entry is always
// removed from the indexes it was put in. (Keys not declared up front: standalone Redis only.)
const INDEX_HELPERS = `
local function indexes(base, ns, fn)
  return {base, base .. ':' .. ns, base .. ':' .. ns .. ':' .. fn}
end
local function unindex(base, entry)
  local f = redis.call('HMGET', entry, 'member', 'namespace', 'function')
  if f[1] then
    for _, k in ipairs(indexes(base, f[2], f[3])) do redis.call('ZREM', k, f[1]) end
  end
end`;

/**
 * KEYS: entry. ARGV: index base, member, json, namespace, function, expire-at ms, retention cutoff
 * member, max entries per function, entry key prefix. Returns the ids evicted, oldest first: while
 * the function's index holds more than the max, its oldest member goes (a member whose entry is
 * already gone is only unindexed).
 */
const addScript = redisScript(
  'nimbusDeadLetterAdd',
  1,
  `${INDEX_HELPERS}
unindex(ARGV[1], KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'entry', ARGV[3], 'member', ARGV[2], 'namespace', ARGV[4], 'function', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
local keys = indexes(ARGV[1], ARGV[4], ARGV[5])
for _, k in ipairs(keys) do
  redis.call('ZADD', k, 0, ARGV[2])
  redis.call('ZREMRANGEBYLEX', k, '-', '(' .. ARGV[7])
end
local max = tonumber(ARGV[8])
local evicted = {}
while redis.call('ZCARD', keys[3]) > max do
  local oldest = redis.call('ZRANGE', keys[3], 0, 0)[1]
  local entry = ARGV[9] .. string.sub(oldest, 18)
  if redis.call('HGET', entry, 'member') == oldest then
    unindex(ARGV[1], entry)
    redis.call('DEL', entry)
    table.insert(evicted, string.sub(oldest, 18))
  else
    redis.call('ZREM', keys[3], oldest)
  end
end
return evicted`,
);

/** KEYS: entry. ARGV: index base. Returns the entry's JSON and removes it, or nil. */
const takeScript = redisScript(
  'nimbusDeadLetterTake',
  1,
  `${INDEX_HELPERS}
local json = redis.call('HGET', KEYS[1], 'entry')
if not json then return false end
unindex(ARGV[1], KEYS[1])
redis.call('DEL', KEYS[1])
return json`,
);

/**
 * KEYS: index. ARGV: start ('+' or '(' .. member), limit, entry key prefix.
 * Walks the index newest first and returns {more 0|1, {member, json, ...}}. A member whose
 * entry expired (retention) or was replaced is dropped from this index on the way.
 */
const listScript = redisScript(
  'nimbusDeadLetterList',
  1,
  `local start = ARGV[1]
local limit = tonumber(ARGV[2])
local out = {}
local more = 0
while more == 0 do
  local members = redis.call('ZRANGE', KEYS[1], start, '-', 'BYLEX', 'REV', 'LIMIT', 0, limit + 1)
  for _, m in ipairs(members) do
    local id = string.sub(m, 18)
    local f = redis.call('HMGET', ARGV[3] .. id, 'member', 'entry')
    if f[1] == m then
      if #out == 2 * limit then more = 1 break end
      table.insert(out, m)
      table.insert(out, f[2])
    else
      redis.call('ZREM', KEYS[1], m)
    end
  end
  if #members < limit + 1 then break end
  start = '(' .. members[#members]
end
return {more, out}`,
);

export interface RedisDeadLetterStoreOptions {
  limits?: Partial<DeadLetterLimits>;
  root?: string;
  /** For the retention cutoff; entries expire on Redis's own clock at failedAt + retention. */
  clock?: Clock;
}

/**
 * Dead letters in Redis: a hash per entry and lexically sorted indexes (all, per namespace,
 * per function) whose members sort by failure time, so a page is one ZRANGE BYLEX away, and the
 * per-function index tells in the same script which entries are the oldest to evict.
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  private readonly limits: DeadLetterLimits;
  private readonly root: string;
  private readonly clock: Clock;

  constructor(
    private readonly connection: RedisConnection,
    options: RedisDeadLetterStoreOptions = {},
  ) {
    this.limits = { ...DEFAULT_DEAD_LETTER_LIMITS, ...options.limits };
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
    this.clock = options.clock ?? systemClock;
  }

  async add(input: NewDeadLetter): Promise<AddedDeadLetter> {
    const entry = toDeadLetter(input, this.limits.maxBodyBytes);
    const cutoff = deadLetterMember({
      failedAt: Math.max(0, this.clock.now() - this.limits.retentionMs),
      id: '',
    });
    const evicted = await this.connection.run(`adding dead letter ${entry.id}`, (c) =>
      addScript(
        c,
        [deadLetterEntryKey(this.root, entry.id)],
        [
          deadLetterIndexKey(this.root),
          deadLetterMember(entry),
          JSON.stringify(entry),
          entry.namespace,
          entry.function,
          entry.failedAt + this.limits.retentionMs,
          cutoff,
          this.limits.maxPerFunction,
          deadLetterEntryKey(this.root, ''),
        ],
      ),
    );
    if (!Array.isArray(evicted))
      throw new StoreCommandError(
        `adding dead letter ${entry.id}: unexpected reply from Redis: ${JSON.stringify(evicted)}`,
      );
    return { entry, evicted: evicted.map(String) };
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetterPage> {
    const { namespace, fn, limit, after } = checkQuery(query);
    const reply = await this.connection.run('listing dead letters', (c) =>
      listScript(
        c,
        [deadLetterIndexKey(this.root, namespace, fn)],
        [after === undefined ? '+' : `(${after}`, limit, deadLetterEntryKey(this.root, '')],
      ),
    );
    if (!Array.isArray(reply) || !Array.isArray(reply[1]))
      throw new StoreCommandError(
        `listing dead letters: unexpected reply from Redis: ${JSON.stringify(reply)}`,
      );
    const flat = reply[1] as unknown[];
    const entries: DeadLetter[] = [];
    let last: string | undefined;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      last = String(flat[i]);
      entries.push(JSON.parse(String(flat[i + 1])) as DeadLetter);
    }
    return { entries, ...(reply[0] === 1 && last !== undefined ? { cursor: encodeCursor(last) } : {}) };
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    checkId('dead-letter id', id);
    const json = await this.connection.run(`reading dead letter ${id}`, (c) =>
      c.hget(deadLetterEntryKey(this.root, id), 'entry'),
    );
    return json === null ? undefined : (JSON.parse(json) as DeadLetter);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.take(id)) !== undefined;
  }

  async take(id: string): Promise<DeadLetter | undefined> {
    checkId('dead-letter id', id);
    const json = await this.connection.run(`taking dead letter ${id}`, (c) =>
      takeScript(c, [deadLetterEntryKey(this.root, id)], [deadLetterIndexKey(this.root)]),
    );
    return typeof json === 'string' ? (JSON.parse(json) as DeadLetter) : undefined;
  }
}
