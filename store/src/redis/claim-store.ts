import { checkClaim } from '../claim-input.js';
import type { ClaimStore } from '../claim-store.js';
import { DEFAULT_KEY_ROOT, checkId, checkKeyRoot, claimKey } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

/** ARGV: owner. Deletes the key only if it still holds this owner (a claim that expired and was taken is not ours). */
const releaseScript = redisScript(
  'nimbusClaimRelease',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

/** ARGV: owner, ttl ms. Extends the TTL only while the key still holds this owner. */
const renewScript = redisScript(
  'nimbusClaimRenew',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
);

/** ARGV: owner, ttl ms. Sets the key whoever holds it and answers the owner it held (false when free). */
const takeOverScript = redisScript(
  'nimbusClaimTakeOver',
  1,
  `local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous`,
);

/** Claims in Redis: SET NX PX, which one server applies atomically whichever replica asks. */
export class RedisClaimStore implements ClaimStore {
  private readonly root: string;

  constructor(
    private readonly connection: RedisConnection,
    options: { root?: string } = {},
  ) {
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  async claim(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkClaim(key, owner, ttlMs);
    const reply = await this.connection.run(`claiming ${key}`, (c) =>
      c.set(claimKey(this.root, key), owner, 'PX', ttlMs, 'NX'),
    );
    return reply === 'OK';
  }

  async release(key: string, owner: string): Promise<boolean> {
    checkClaim(key, owner);
    const reply = await this.connection.run(`releasing ${key}`, (c) =>
      releaseScript(c, [claimKey(this.root, key)], [owner]),
    );
    return reply === 1;
  }

  async holder(key: string): Promise<string | undefined> {
    checkId('claim key', key);
    const reply = await this.connection.run(`reading ${key}`, (c) => c.get(claimKey(this.root, key)));
    return reply ?? undefined;
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    checkClaim(key, owner, ttlMs);
    const reply = await this.connection.run(`renewing ${key}`, (c) =>
      renewScript(c, [claimKey(this.root, key)], [owner, ttlMs]),
    );
    return reply === 1;
  }

  async takeOver(key: string, owner: string, ttlMs: number): Promise<string | undefined> {
    checkClaim(key, owner, ttlMs);
    const reply = await this.connection.run(`taking over ${key}`, (c) =>
      takeOverScript(c, [claimKey(this.root, key)], [owner, ttlMs]),
    );
    return typeof reply === 'string' ? reply : undefined;
  }
}
