import { StoreCommandError } from '../errors.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, rateKey } from '../keys.js';
import {
  type RateBucket,
  type RateDecision,
  type RateLimitStore,
  checkBuckets,
} from '../rate-limit-store.js';
import { bucketTtlMs } from '../token-bucket.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

/**
 * takeTokens (token-bucket.ts) in Lua, over KEYS[1..n], ARGV: perSecond, burst, ttl ms for each
 * bucket in turn. Time is Redis's own (TIME), so gateways with skewed clocks share one bucket
 * fairly. Answers {1} admitted, or {0, index (1-based), retryAfterMs}. A fixed script the gateway
 * runs; functions' ACL users cannot run scripts at all.
 */
const takeScript = (n: number) =>
  redisScript(
    `nimbusRateTake${n}`,
    n,
    `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = {}
local refused, wait = 0, 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have = burst
  if state[1] then
    local elapsed = math.max(0, now - tonumber(state[2]))
    have = math.min(burst, tonumber(state[1]) + elapsed * rate / 1000)
  end
  tokens[i] = have
  if have < 1 then
    local w = math.ceil((1 - have) * 1000 / rate)
    if refused == 0 or w > wait then refused, wait = i, w end
  end
end
local take = 0
if refused == 0 then take = 1 end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - take), 'at', now)
  redis.call('PEXPIRE', KEYS[i], ARGV[3 * i])
end
if refused == 0 then return {1} end
return {0, refused, wait}`,
  );

const scripts = new Map<number, ReturnType<typeof takeScript>>();
const scriptFor = (n: number) => {
  let script = scripts.get(n);
  if (script === undefined) {
    script = takeScript(n);
    scripts.set(n, script);
  }
  return script;
};

/** Token buckets in Redis, one hash each, taken from atomically by one script. */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly root: string;

  constructor(
    private readonly connection: RedisConnection,
    options: { root?: string } = {},
  ) {
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  async take(buckets: readonly RateBucket[]): Promise<RateDecision> {
    checkBuckets(buckets);
    const keys = buckets.map((b) => rateKey(this.root, b.key));
    const args = buckets.flatMap((b) => [b.perSecond, b.burst, bucketTtlMs(b)]);
    const reply = await this.connection.run(`taking a token from ${buckets[0]?.key}`, (c) =>
      scriptFor(buckets.length)(c, keys, args),
    );
    if (!Array.isArray(reply) || (reply[0] !== 1 && reply[0] !== 0))
      throw new StoreCommandError(`the rate-limit script answered ${JSON.stringify(reply)}`);
    if (reply[0] === 1) return { allowed: true };
    return { allowed: false, bucket: Number(reply[1]) - 1, retryAfterMs: Number(reply[2]) };
  }
}
