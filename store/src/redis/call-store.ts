import {
  type CallFields,
  callFromFields,
  checkStatuses,
  encodeStatus,
  newCallFields,
  patchFields,
} from '../call-record-fields.js';
import {
  type CallPatch,
  type CallRecord,
  type CallStatus,
  type CallStore,
  type CallStoreLimits,
  DEFAULT_CALL_STORE_LIMITS,
  type NewCallRecord,
  type TransitionResult,
} from '../call-store.js';
import { CallExistsError, StoreCommandError } from '../errors.js';
import { DEFAULT_KEY_ROOT, callKey, checkId, checkKeyRoot } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

/** ARGV: ttlMs, then field/value pairs. Returns 1, or 0 when the id exists. */
const createScript = redisScript(
  'nimbusCallCreate',
  1,
  `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
);

/**
 * ARGV: ttlMs, n, n allowed statuses (JSON text), then field/value pairs.
 * Returns {applied 0|1, the record's fields after}; {0, {}} when there is no record.
 */
const transitionScript = redisScript(
  'nimbusCallTransition',
  1,
  `local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, {}} end
local n = tonumber(ARGV[2])
local allowed = false
for i = 3, n + 2 do
  if ARGV[i] == status then allowed = true break end
end
if not allowed then return {0, redis.call('HGETALL', KEYS[1])} end
if #ARGV > n + 2 then redis.call('HSET', KEYS[1], unpack(ARGV, n + 3)) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {1, redis.call('HGETALL', KEYS[1])}`,
);

export interface RedisCallStoreOptions {
  limits?: Partial<CallStoreLimits>;
  root?: string;
}

/** Call records in Redis, one hash per call (see call-record-fields.ts), expiring ttlMs after the last change. */
export class RedisCallStore implements CallStore {
  private readonly limits: CallStoreLimits;
  private readonly root: string;

  constructor(
    private readonly connection: RedisConnection,
    options: RedisCallStoreOptions = {},
  ) {
    this.limits = { ...DEFAULT_CALL_STORE_LIMITS, ...options.limits };
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  async create(record: NewCallRecord): Promise<CallRecord> {
    const fields = newCallFields(record, this.limits);
    const created = await this.connection.run(`creating call record ${record.id}`, (c) =>
      createScript(c, [callKey(this.root, record.id)], [this.limits.ttlMs, ...Object.entries(fields).flat()]),
    );
    if (created !== 1) throw new CallExistsError(record.id);
    return callFromFields(fields) as CallRecord;
  }

  async get(id: string): Promise<CallRecord | undefined> {
    checkId('call id', id);
    const fields = await this.connection.run(`reading call record ${id}`, (c) =>
      c.hgetall(callKey(this.root, id)),
    );
    return callFromFields(fields);
  }

  async transition(id: string, from: readonly CallStatus[], patch: CallPatch): Promise<TransitionResult> {
    checkId('call id', id);
    const allowed = checkStatuses(from).map(encodeStatus);
    const update = Object.entries(patchFields(patch, this.limits)).flat();
    const reply = await this.connection.run(`updating call record ${id}`, (c) =>
      transitionScript(
        c,
        [callKey(this.root, id)],
        [this.limits.ttlMs, allowed.length, ...allowed, ...update],
      ),
    );
    if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1) || !Array.isArray(reply[1]))
      throw new StoreCommandError(
        `updating call record ${id}: unexpected reply from Redis: ${JSON.stringify(reply)}`,
      );
    return { applied: reply[0] === 1, record: callFromFields(pairsToFields(reply[1])) };
  }
}

function pairsToFields(flat: unknown[]): CallFields {
  const fields: CallFields = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}
