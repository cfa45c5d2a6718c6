/**
 * @nimbus/store: Nimbus's external state (DESIGN §6) as ports, each with a Redis adapter
 * (ioredis) and an in-memory adapter for local mode that passes the same contract tests.
 *
 * Ports
 * - StateStore / FunctionStateStore: ctx.state. A key space per namespace and function;
 *   get, set (TTL), delete, incr, compareAndSet by opaque version (random per write). JSON
 *   values only, at most 64 KiB (StateValueTooLargeError); keys 1-512 bytes, no control characters.
 *   Per-function quotas of keys and bytes (StateQuotaExceededError), checked atomically with the
 *   write; Redis at maxmemory refuses writes (StateStoreFullError). Only trusted processes (the
 *   gateway's state service, local mode's supervisor) use it: functions never reach Redis.
 * - CallStore: async call records with an atomic, status-guarded `transition`, so a cancelled
 *   call never starts and a late duplicate delivery never overwrites a finished call. Records
 *   expire 24 h after their last change; result bodies are cut at 1 MiB (`truncated`).
 * - DeadLetterStore: add, list newest first (cursor paging, by namespace or function), get,
 *   delete, and an atomic `take` for redrive. Kept 7 days after failure.
 * - ClaimStore: claim(key, owner, ttl) (SET NX PX), owner-only release and renew, holder, and
 *   takeOver: a cron tick fires once, and a schedule's run holds a lease (concurrency policy).
 * - RateLimitStore: take a token from one or more token buckets at once, atomically (a fixed Lua
 *   script on Redis's own clock); the memory store runs the same arithmetic (token-bucket.ts).
 * - CheckpointStore: an event source's durable state per trigger, a map of fields (the S3
 *   poller's view of its bucket): entries (HSCAN pages), set (bounded by maxFields), delete, clear.
 * - RedisAclManager: removes the per-function ACL users earlier versions made.
 *
 * Redis key layout (root `nimbus` unless configured)
 *   nimbus:state:<namespace>:<function>:<key>    hash { v, ver }       stateKeyPrefix(ns, fn)
 *   nimbus:state-index:<namespace>:<function>    sorted set, key -> expiry ms   stateQuotaKeys(ns, fn)
 *   nimbus:state-usage:<namespace>:<function>    hash, key -> bytes, "\0bytes" -> total
 *   nimbus:call:<id>                             hash of JSON fields
 *   nimbus:dlq:entry:<id>                        hash { entry, member, namespace, function }
 *   nimbus:dlq:index[:<namespace>[:<function>]]  sorted sets, lexical, member <failedAt 16 digits>:<id>
 *   nimbus:claim:<key>                           string, the owner
 *   nimbus:rate:<bucket>                         hash { tokens, at }, expiring once refilled
 *   nimbus:checkpoint:<ns>/<fn>/<trigger>        hash, field -> value (an event source's checkpoint)
 *   ACL user of a function (earlier versions only): nimbus-fn:<namespace>:<function>
 * Standalone Redis 7.0 or later (script flags, ZRANGE BYLEX REV); not Redis Cluster.
 *
 * Failure behaviour
 * Redis out of reach fails fast: no offline queue, in-flight commands rejected when the
 * connection drops and never resent, a command timeout (1 s) for a server that hangs. State
 * calls then reject with StateUnavailableError, the other stores with StoreUnavailableError
 * (both carry the ioredis error as `cause`). The client reconnects by itself with capped
 * backoff, so the same stores work again when Redis returns. Refusals from Redis (NOPERM,
 * WRONGTYPE) are StoreCommandError; bad input is refused before any I/O.
 */

export * from './call-store.js';
export * from './checkpoint-store.js';
export * from './claim-store.js';
export * from './config.js';
export * from './dead-letter-store.js';
export * from './errors.js';
export * from './json-value.js';
export * from './logger.js';
export * from './memory/call-store.js';
export * from './memory/checkpoint-store.js';
export * from './memory/claim-store.js';
export * from './memory/dead-letter-store.js';
export * from './memory/rate-limit-store.js';
export * from './memory/state-store.js';
export * from './redis/acl.js';
export * from './redis/call-store.js';
export * from './redis/checkpoint-store.js';
export * from './redis/claim-store.js';
export * from './redis/connection.js';
export * from './redis/dead-letter-store.js';
export * from './redis/rate-limit-store.js';
export * from './rate-limit-store.js';
export * from './state-operation.js';
export { takeTokens, bucketTtlMs, type BucketState } from './token-bucket.js';
export * from './redis/state-store.js';
export * from './state-store.js';
export * from './state-quota.js';
export * from './stores.js';
export { bodyBytes, type BodyEncoding } from './stored-body.js';
export {
  checkFunctionName,
  stateKeyPrefix,
  stateQuotaKeys,
  functionUsername,
  DEFAULT_KEY_ROOT,
} from './keys.js';
export { MAX_KEY_BYTES } from './state-input.js';
export * from './state-token.js';
