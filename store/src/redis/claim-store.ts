import { checkClaim } from '../claim-input.js';
import type { ClaimStore } from '../claim-store.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, claimKey } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { redisScript } from './script.js';

/** ARGV: owner. Deletes the key only if it still holds this owner (a claim that expired and was taken is not ours). */
const releaseScript = redisScript(
  'nimbusClaimRelease',
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
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
}
