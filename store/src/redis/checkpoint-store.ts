import {
  type Checkpoint,
  CheckpointFullError,
  type CheckpointLimits,
  type CheckpointStore,
  DEFAULT_CHECKPOINT_LIMITS,
  checkCheckpointFields,
  checkCheckpointKey,
  checkField,
} from '../checkpoint-store.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, checkpointKey } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

/** Fields per command (HSET, HDEL) and per HSCAN page: no single command holds Redis for long. */
export const CHECKPOINT_BATCH = 1_000;

/**
 * ARGV: maxFields, then field, value pairs. Counts the fields that are new, and writes only when
 * the hash stays within maxFields: answers the size it would have, negated when refused.
 */
const setScript = redisScript(
  'nimbusCheckpointSet',
  1,
  `local size = redis.call('HLEN', KEYS[1])
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then size = size + 1 end
end
if size > tonumber(ARGV[1]) then return -size end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return size`,
);

/**
 * Checkpoints in Redis, one hash each. A write larger than CHECKPOINT_BATCH fields goes in
 * several commands, each atomic on its own: a crash in between leaves some fields written, which
 * a source must take (the S3 poller writes what it has stored, so a partial write only means
 * fewer repeats).
 */
export class RedisCheckpointStore implements CheckpointStore {
  private readonly root: string;
  private readonly limits: CheckpointLimits;

  constructor(
    private readonly connection: RedisConnection,
    options: { root?: string; limits?: Partial<CheckpointLimits> } = {},
  ) {
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
    this.limits = { ...DEFAULT_CHECKPOINT_LIMITS, ...options.limits };
  }

  checkpoint(key: string): Checkpoint {
    checkCheckpointKey(key);
    const hash = checkpointKey(this.root, key);
    const { connection, limits } = this;
    return {
      async entries() {
        const out = new Map<string, string>();
        let cursor = '0';
        do {
          const [next, flat] = await connection.run(`reading checkpoint ${key}`, (c) =>
            c.hscan(hash, cursor, 'COUNT', CHECKPOINT_BATCH),
          );
          for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i] as string, flat[i + 1] as string);
          cursor = next;
        } while (cursor !== '0');
        return out;
      },
      async set(fields) {
        checkCheckpointFields(key, fields, limits);
        for (const batch of batches([...fields].flat(), CHECKPOINT_BATCH * 2)) {
          const size = await connection.run(`writing checkpoint ${key}`, (c) =>
            setScript(c, [hash], [limits.maxFields, ...batch]),
          );
          if (typeof size === 'number' && size < 0)
            throw new CheckpointFullError(key, -size, limits.maxFields);
        }
      },
      async delete(fields) {
        for (const field of fields) checkField(key, field, limits);
        for (const batch of batches(fields, CHECKPOINT_BATCH)) {
          await connection.run(`deleting from checkpoint ${key}`, (c) => c.hdel(hash, ...batch));
        }
      },
      async clear() {
        await connection.run(`clearing checkpoint ${key}`, (c) => c.del(hash));
      },
    };
  }
}

function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
