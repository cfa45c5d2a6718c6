import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import { ReconnectNotice } from './reconnect-notice.js';

/** What the controller does in Redis for function state. */
export interface StateAdmin {
  /** Creates or updates the function's ACL user with this password, limited to its key prefix. */
  ensureUser(
    namespace: string,
    fn: string,
    password: string,
  ): Promise<{ username: string; keyPrefix: string }>;
  /** Resolves whether there was a user to delete; its connections are closed. */
  deleteUser(namespace: string, fn: string): Promise<boolean>;
  /** Deletes every key of the function; resolves how many. */
  clearKeys(namespace: string, fn: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Function users and keys on the controller's admin connection (NIMBUS_REDIS_URL), which connects
 * on first use, fails fast while Redis is away, and reconnects by itself.
 */
export class RedisStateAdmin implements StateAdmin {
  private readonly stores: RedisStores;
  private checkedDefaultUser = false;
  private readonly notices: ReconnectNotice[] = [];

  constructor(
    url: string,
    options: { commandTimeoutMs: number },
    private readonly log: Logger,
  ) {
    this.stores = createRedisStores(url, {
      commandTimeoutMs: options.commandTimeoutMs,
      logger: log,
      name: 'controller',
    });
  }

  async ensureUser(namespace: string, fn: string, password: string) {
    const user = await this.stores.acl.ensureFunctionUser(namespace, fn, { password });
    await this.checkDefaultUser();
    return { username: user.username, keyPrefix: user.keyPrefix };
  }

  deleteUser(namespace: string, fn: string): Promise<boolean> {
    return this.stores.acl.deleteFunctionUser(namespace, fn);
  }

  clearKeys(namespace: string, fn: string): Promise<number> {
    return this.stores.state.clear(namespace, fn);
  }

  /**
   * Redis lost its users when it restarted without an ACL file: `listener` runs when the connection
   * is back after a loss, so the functions' users are made again at once rather than at the next resync.
   */
  onReconnect(listener: () => void, clock: Clock): void {
    const notice = new ReconnectNotice(listener, clock);
    this.notices.push(notice);
    const { client } = this.stores.connection;
    client.on('close', () => notice.closed());
    client.on('ready', () => notice.ready());
  }

  close(): Promise<void> {
    for (const notice of this.notices.splice(0)) notice.stop();
    return this.stores.close();
  }

  /**
   * Once: a `default` user that needs no password lets any client skip logging in as its
   * function's user and reach every key, which undoes the isolation the users give.
   */
  private async checkDefaultUser(): Promise<void> {
    if (this.checkedDefaultUser) return;
    this.checkedDefaultUser = true;
    try {
      const flags = await this.stores.connection.run('ACL GETUSER default', async (c) => {
        const reply = (await c.call('ACL', 'GETUSER', 'default')) as unknown[] | null;
        const at = reply?.indexOf('flags') ?? -1;
        return at < 0 ? [] : (reply?.[at + 1] as string[]);
      });
      if (flags.includes('on') && flags.includes('nopass'))
        this.log.warn(
          "Redis's default user needs no password: a function pod could skip its own user and reach every key; give Redis a requirepass (and NIMBUS_REDIS_URL its password)",
        );
    } catch (err) {
      this.log.debug('could not read the Redis default user', { err });
    }
  }
}
