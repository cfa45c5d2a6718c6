import type { Redis } from 'ioredis';

export type RedisScript = (
  client: Redis,
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<unknown>;

/**
 * A Lua script run through ioredis's defineCommand: EVALSHA, falling back to EVAL when the
 * server does not have it cached (after a restart or SCRIPT FLUSH). The command is defined
 * on a client the first time the script runs on it, so one client can serve many adapters.
 */
export function redisScript(name: string, numberOfKeys: number, lua: string): RedisScript {
  const defined = new WeakSet<Redis>();
  return (client, keys, args) => {
    if (keys.length !== numberOfKeys)
      throw new TypeError(`${name} takes ${numberOfKeys} keys, got ${keys.length}`);
    if (!defined.has(client)) {
      client.defineCommand(name, { numberOfKeys, lua });
      defined.add(client);
    }
    const command = (client as unknown as Record<string, unknown>)[name];
    if (typeof command !== 'function') throw new TypeError(`ioredis did not define the command ${name}`);
    return (command as (...a: (string | number)[]) => Promise<unknown>).call(client, ...keys, ...args);
  };
}
