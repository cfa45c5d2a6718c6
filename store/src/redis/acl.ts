import { DEFAULT_KEY_ROOT, checkKeyRoot, functionUsername } from '../keys.js';
import type { RedisConnection } from './connection.js';

/**
 * What is left of the per-function Redis ACL users of earlier versions. Functions no longer log
 * in to Redis at all (Redis runs scripts with the caller's rights and has no per-user size or
 * quota limits, so a function with any Redis access could stall or fill it): their state goes
 * through the gateway's state service. The controller removes a user such a version made when it
 * next releases the function's state, and never makes one.
 */
export class RedisAclManager {
  private readonly root: string;

  constructor(
    private readonly admin: RedisConnection,
    options: { root?: string } = {},
  ) {
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  /** Removes the function's user (Redis disconnects its clients); resolves whether there was one. */
  async deleteFunctionUser(namespace: string, fn: string): Promise<boolean> {
    const username = functionUsername(namespace, fn, this.root);
    const deleted = await this.admin.run(`deleting the Redis user of ${namespace}/${fn}`, (c) =>
      c.call('ACL', 'DELUSER', username),
    );
    return deleted === 1;
  }
}
