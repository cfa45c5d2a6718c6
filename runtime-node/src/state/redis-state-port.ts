import { readFile } from 'node:fs/promises';
import type { Logger } from '@nimbus/api/log';
import { type JsonValue, RedisConnection, RedisStateStore } from '@nimbus/store';
import type { StatePort } from './function-state.js';
import type { StateSettings } from './state-config.js';
import { StateUnavailableError } from './state-errors.js';

export type RedisStateSettings = Extract<StateSettings, { backend: 'redis' }>;

/**
 * The function's Redis key space, logged in as the user the settings name. Loaded on the first
 * state call only (ioredis and the store are a bundle of their own): a function that never
 * touches ctx.state never loads them. The connection fails fast while Redis is away and
 * reconnects by itself (see @nimbus/store's RedisConnection).
 */
export async function openRedisStatePort(
  settings: RedisStateSettings,
  namespace: string,
  fn: string,
  logger: Logger,
): Promise<StatePort> {
  const password = settings.password ?? (await passwordFromFile(settings.passwordFile));
  // Without a username a password logs in as `default`; without either, the URL's credentials count.
  const connection = new RedisConnection({
    url: settings.url,
    ...(settings.username === undefined ? {} : { username: settings.username }),
    ...(password === undefined ? {} : { password }),
    name: `state:${namespace}/${fn}`,
    commandTimeoutMs: settings.timeoutMs,
    logger: logger.child({ component: 'state' }),
  });
  const state = new RedisStateStore(connection, { limits: { maxValueBytes: settings.maxValueBytes } }).scoped(
    namespace,
    fn,
  );
  return {
    get: (key) => state.get(key),
    set: (key, value, options) => state.set(key, value as JsonValue, options),
    delete: (key) => state.delete(key),
    incr: (key, by) => state.incr(key, by),
    compareAndSet: (key, expected, value, options) =>
      state.compareAndSet(key, expected, value as JsonValue, options),
    close: () => connection.close(),
  };
}

async function passwordFromFile(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    // A Secret's file may end with a newline when written by hand.
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw new StateUnavailableError(
      `cannot read the Redis password from NIMBUS_STATE_REDIS_PASSWORD_FILE (${file}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
