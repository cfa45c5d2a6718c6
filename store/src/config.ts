import { ConfigError, type Env, readInt } from '@nimbus/api/env';
import { type CallStoreLimits, DEFAULT_CALL_STORE_LIMITS } from './call-store.js';
import { DEFAULT_DEAD_LETTER_LIMITS, type DeadLetterLimits } from './dead-letter-store.js';
import { DEFAULT_COMMAND_TIMEOUT_MS } from './redis/connection.js';
import { DEFAULT_STATE_LIMITS, type StateLimits } from './state-store.js';

export interface StoreConfig {
  /** Unset: the in-memory stand-ins (local mode). */
  readonly redisUrl: string | undefined;
  readonly commandTimeoutMs: number;
  readonly state: Readonly<StateLimits>;
  readonly calls: Readonly<CallStoreLimits>;
  readonly deadLetters: Readonly<DeadLetterLimits>;
}

const DAY_S = 24 * 60 * 60;

/**
 * The store settings, read once at start-up:
 * - NIMBUS_REDIS_URL: redis://[user:password@]host:port[/db] or rediss://; unset for in-memory
 * - NIMBUS_REDIS_COMMAND_TIMEOUT_MS (1000): a Redis call without an answer by then fails as unavailable
 * - NIMBUS_STATE_MAX_VALUE_BYTES (65536): the largest state value, as JSON
 * - NIMBUS_STATE_MAX_KEYS (10000), NIMBUS_STATE_MAX_BYTES (16777216): each function's state quota
 * - NIMBUS_CALL_TTL_SECONDS (86400): how long a call record is kept after its last change
 * - NIMBUS_CALL_MAX_RESULT_BYTES (1048576): result bodies are cut beyond this
 * - NIMBUS_DEAD_LETTER_RETENTION_SECONDS (604800): how long a dead letter is kept
 * - NIMBUS_DEAD_LETTER_MAX_BODY_BYTES (65536): a dead letter's request body is cut beyond this
 *   (and such a dead letter cannot be redriven)
 * - NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION (200): dead letters kept per function; more drop the oldest
 */
export function parseStoreConfig(env: Env): StoreConfig {
  const redisUrl = env.NIMBUS_REDIS_URL || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl))
    throw new ConfigError('NIMBUS_REDIS_URL', 'must be a redis:// or rediss:// URL');
  return Object.freeze({
    redisUrl,
    commandTimeoutMs: readInt(env, 'NIMBUS_REDIS_COMMAND_TIMEOUT_MS', DEFAULT_COMMAND_TIMEOUT_MS, 10, 60_000),
    state: Object.freeze({
      maxValueBytes: readInt(
        env,
        'NIMBUS_STATE_MAX_VALUE_BYTES',
        DEFAULT_STATE_LIMITS.maxValueBytes,
        1,
        16 * 1024 * 1024,
      ),
      maxKeys: readInt(env, 'NIMBUS_STATE_MAX_KEYS', DEFAULT_STATE_LIMITS.maxKeys, 1, 100_000_000),
      maxBytes: readInt(
        env,
        'NIMBUS_STATE_MAX_BYTES',
        DEFAULT_STATE_LIMITS.maxBytes,
        1024,
        64 * 1024 * 1024 * 1024,
      ),
    }),
    calls: Object.freeze({
      ttlMs:
        readInt(env, 'NIMBUS_CALL_TTL_SECONDS', DEFAULT_CALL_STORE_LIMITS.ttlMs / 1000, 60, 30 * DAY_S) *
        1000,
      maxResultBodyBytes: readInt(
        env,
        'NIMBUS_CALL_MAX_RESULT_BYTES',
        DEFAULT_CALL_STORE_LIMITS.maxResultBodyBytes,
        0,
        64 * 1024 * 1024,
      ),
    }),
    deadLetters: Object.freeze({
      retentionMs:
        readInt(
          env,
          'NIMBUS_DEAD_LETTER_RETENTION_SECONDS',
          DEFAULT_DEAD_LETTER_LIMITS.retentionMs / 1000,
          60,
          365 * DAY_S,
        ) * 1000,
      maxBodyBytes: readInt(
        env,
        'NIMBUS_DEAD_LETTER_MAX_BODY_BYTES',
        DEFAULT_DEAD_LETTER_LIMITS.maxBodyBytes,
        0,
        64 * 1024 * 1024,
      ),
      maxPerFunction: readInt(
        env,
        'NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION',
        DEFAULT_DEAD_LETTER_LIMITS.maxPerFunction,
        1,
        1_000_000,
      ),
    }),
  });
}
