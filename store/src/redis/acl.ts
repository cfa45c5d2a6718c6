import { randomBytes } from 'node:crypto';
import { InvalidStoreInputError } from '../errors.js';
import { DEFAULT_KEY_ROOT, checkKeyRoot, functionUsername, stateKeyPrefix } from '../keys.js';
import type { RedisConnection } from './connection.js';
import { STATE_CLIENT_COMMANDS } from './state-store.js';

export interface FunctionUser {
  username: string;
  password: string;
  /** The only keys the user may touch: this prefix followed by anything. */
  keyPrefix: string;
}

/**
 * The ACL rules of a function's state user, in the order ACL SETUSER applies them: start
 * from nothing (`reset`: no passwords, keys, channels or commands; off), then allow the one
 * key prefix and exactly the commands the state adapter sends. Not allowed, among others:
 * KEYS/SCAN (they would list other functions' keys), INFO, CONFIG, FLUSHALL, SELECT, pub/sub.
 * EVAL is allowed because ioredis falls back to it when a script is not cached (after a
 * restart); a script still runs with this user's ACL, command by command and key by key.
 */
export function functionUserRules(keyPrefix: string, password: string): string[] {
  return [
    'reset',
    'on',
    `>${password}`,
    `~${keyPrefix}*`,
    'resetchannels',
    '-@all',
    '+ping',
    ...STATE_CLIENT_COMMANDS.map((command) => `+${command}`),
  ];
}

const PASSWORD = /^[\x21-\x7e]{16,256}$/;

/**
 * Redis ACL users, one per function with state, so a function holding its own credentials can
 * reach its own key space and nothing else. Runs on an admin connection (the controller's).
 * Users set at run time live in the server's memory: after a Redis restart without an ACL
 * file they are gone, and the controller's next reconcile makes them again.
 */
export class RedisAclManager {
  private readonly root: string;

  constructor(
    private readonly admin: RedisConnection,
    options: { root?: string } = {},
  ) {
    this.root = checkKeyRoot(options.root ?? DEFAULT_KEY_ROOT);
  }

  /**
   * Creates or updates the function's user. Pass the password it was given before (kept in
   * the function's Secret) to keep it; without one a fresh password replaces the old, which
   * rotates it (connections already logged in stay so).
   */
  async ensureFunctionUser(
    namespace: string,
    fn: string,
    options: { password?: string } = {},
  ): Promise<FunctionUser> {
    const username = functionUsername(namespace, fn, this.root);
    const keyPrefix = stateKeyPrefix(namespace, fn, this.root);
    const password = options.password ?? randomBytes(32).toString('base64url');
    if (!PASSWORD.test(password))
      throw new InvalidStoreInputError(
        'a function user password must be 16-256 printable ASCII characters without spaces',
      );
    await this.admin.run(`setting the Redis user of ${namespace}/${fn}`, (c) =>
      c.call('ACL', 'SETUSER', username, ...functionUserRules(keyPrefix, password)),
    );
    return { username, password, keyPrefix };
  }

  /** Removes the user (Redis disconnects its clients); resolves whether there was one. */
  async deleteFunctionUser(namespace: string, fn: string): Promise<boolean> {
    const username = functionUsername(namespace, fn, this.root);
    const deleted = await this.admin.run(`deleting the Redis user of ${namespace}/${fn}`, (c) =>
      c.call('ACL', 'DELUSER', username),
    );
    return deleted === 1;
  }
}
