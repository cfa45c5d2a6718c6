import type { Logger } from '@nimbus/api';
import { type RedisStores, createRedisStores } from '@nimbus/store';

/** What the controller does in Redis for function state. */
export interface StateAdmin {
  /** Removes the function's Redis ACL user, if an earlier version made one; its connections are closed. */
  deleteUser(namespace: string, fn: string): Promise<boolean>;
  /** Deletes every key of the function; resolves how many. */
  clearKeys(namespace: string, fn: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Function keys (and users of earlier versions) on the controller's admin connection
 * (NIMBUS_REDIS_URL), which connects on first use, fails fast while Redis is away, and
 * reconnects by itself.
 */
export class RedisStateAdmin implements StateAdmin {
  private readonly stores: RedisStores;

  constructor(url: string, options: { commandTimeoutMs: number }, log: Logger) {
    this.stores = createRedisStores(url, {
      commandTimeoutMs: options.commandTimeoutMs,
      logger: log,
      name: 'controller',
    });
  }

  deleteUser(namespace: string, fn: string): Promise<boolean> {
    return this.stores.acl.deleteFunctionUser(namespace, fn);
  }

  clearKeys(namespace: string, fn: string): Promise<number> {
    return this.stores.state.clear(namespace, fn);
  }

  close(): Promise<void> {
    return this.stores.close();
  }
}
