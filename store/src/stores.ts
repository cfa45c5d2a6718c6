import { type Clock, systemClock } from '@nimbus/api/clock';
import type { CallStore, CallStoreLimits } from './call-store.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { ClaimStore } from './claim-store.js';
import type { StoreConfig } from './config.js';
import type { DeadLetterLimits, DeadLetterStore } from './dead-letter-store.js';
import { type StoreLogger, silentLogger } from './logger.js';
import { MemoryCallStore } from './memory/call-store.js';
import { MemoryCheckpointStore } from './memory/checkpoint-store.js';
import { MemoryClaimStore } from './memory/claim-store.js';
import { MemoryDeadLetterStore } from './memory/dead-letter-store.js';
import { MemoryRateLimitStore } from './memory/rate-limit-store.js';
import { MemoryStateStore } from './memory/state-store.js';
import type { RateLimitStore } from './rate-limit-store.js';
import { RedisAclManager } from './redis/acl.js';
import { RedisCallStore } from './redis/call-store.js';
import { RedisCheckpointStore } from './redis/checkpoint-store.js';
import { RedisClaimStore } from './redis/claim-store.js';
import { RedisConnection, type RedisConnectionOptions } from './redis/connection.js';
import { RedisDeadLetterStore } from './redis/dead-letter-store.js';
import { RedisRateLimitStore } from './redis/rate-limit-store.js';
import { RedisStateStore } from './redis/state-store.js';
import type { StateLimits, StateStore } from './state-store.js';

/** Every store a process may need, on one backend. */
export interface Stores {
  readonly kind: 'redis' | 'memory';
  readonly state: StateStore;
  readonly calls: CallStore;
  readonly deadLetters: DeadLetterStore;
  readonly claims: ClaimStore;
  readonly rateLimits: RateLimitStore;
  /** Event sources' checkpoints (the S3 poller's view of its bucket). */
  readonly checkpoints: CheckpointStore;
  close(): Promise<void>;
}

export interface StoreLimitsOptions {
  state?: Partial<StateLimits>;
  calls?: Partial<CallStoreLimits>;
  deadLetters?: Partial<DeadLetterLimits>;
}

export interface RedisStoresOptions extends Omit<RedisConnectionOptions, 'url'> {
  limits?: StoreLimitsOptions;
  /** Key root, `nimbus` by default: two installations can share a Redis under different roots. */
  root?: string;
  clock?: Clock;
}

export interface RedisStores extends Stores {
  readonly kind: 'redis';
  readonly connection: RedisConnection;
  /** Removes function ACL users left by earlier versions (the controller's admin connection). */
  readonly acl: RedisAclManager;
}

/** The Redis stores on one connection (the gateway's and the controller's). It connects on first use. */
export function createRedisStores(url: string, options: RedisStoresOptions = {}): RedisStores {
  const { limits = {}, root, clock, ...connectionOptions } = options;
  const connection = new RedisConnection({ url, ...connectionOptions });
  const rooted = root === undefined ? {} : { root };
  return {
    kind: 'redis',
    connection,
    state: new RedisStateStore(connection, { ...rooted, limits: limits.state ?? {} }),
    calls: new RedisCallStore(connection, { ...rooted, limits: limits.calls ?? {} }),
    deadLetters: new RedisDeadLetterStore(connection, {
      ...rooted,
      limits: limits.deadLetters ?? {},
      ...(clock ? { clock } : {}),
    }),
    claims: new RedisClaimStore(connection, rooted),
    rateLimits: new RedisRateLimitStore(connection, rooted),
    checkpoints: new RedisCheckpointStore(connection, rooted),
    acl: new RedisAclManager(connection, rooted),
    close: () => connection.close(),
  };
}

/** The in-memory stand-ins for local mode; all expiry follows `clock`. */
export function createMemoryStores(options: { clock?: Clock; limits?: StoreLimitsOptions } = {}): Stores {
  const clock = options.clock ?? systemClock;
  const limits = options.limits ?? {};
  return {
    kind: 'memory',
    state: new MemoryStateStore(clock, limits.state),
    calls: new MemoryCallStore(clock, limits.calls),
    deadLetters: new MemoryDeadLetterStore(clock, limits.deadLetters),
    claims: new MemoryClaimStore(clock),
    rateLimits: new MemoryRateLimitStore(clock),
    checkpoints: new MemoryCheckpointStore(),
    close: async () => {},
  };
}

/** Redis when the config names one, otherwise the in-memory stand-ins, and a log line that says which. */
export function createStores(
  config: StoreConfig,
  options: { logger?: StoreLogger; clock?: Clock } = {},
): Stores {
  const logger = options.logger ?? silentLogger;
  const limits = { state: config.state, calls: config.calls, deadLetters: config.deadLetters };
  if (config.redisUrl === undefined) {
    logger.info(
      'no NIMBUS_REDIS_URL: state, call records, dead letters, claims and rate limits are in memory, lost on restart',
    );
    return createMemoryStores({ limits, ...(options.clock ? { clock: options.clock } : {}) });
  }
  logger.info('state, call records, dead letters, claims and rate limits are in Redis', {
    redis: redactUrl(config.redisUrl),
  });
  return createRedisStores(config.redisUrl, {
    limits,
    logger,
    commandTimeoutMs: config.commandTimeoutMs,
    ...(options.clock ? { clock: options.clock } : {}),
  });
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparsable URL';
  }
}
