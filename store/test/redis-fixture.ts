import { randomBytes } from 'node:crypto';
import { type RedisServer, sharedRedisServer, stopSharedRedisServer } from '@nimbus/testkit';
import { Redis } from 'ioredis';
import { RedisConnection, type RedisConnectionOptions, withoutCredentials } from '../src/redis/connection.js';

// One redis-server for every suite of the run that does not stop Redis; each test keeps to
// a key root of its own. Registered at the root, so it runs once, after all files.
after(async function () {
  this.timeout(20_000);
  await stopSharedRedisServer();
});

export function sharedRedis(): Promise<RedisServer> {
  return sharedRedisServer();
}

/** A key root no other test uses, e.g. `t-3fa9c2e1`. */
export function uniqueRoot(): string {
  return `t-${randomBytes(4).toString('hex')}`;
}

/**
 * Connections and raw clients a test opened, closed together in afterEach. Raw clients
 * (plain ioredis) look at what the adapters stored: TTLs, key names.
 */
export class RedisClients {
  private readonly connections: RedisConnection[] = [];
  private readonly raws: Redis[] = [];

  constructor(readonly url: string) {}

  connection(options: Partial<RedisConnectionOptions> = {}): RedisConnection {
    const connection = new RedisConnection({ url: this.url, ...options });
    this.connections.push(connection);
    return connection;
  }

  raw(options: { username?: string; password?: string } = {}): Redis {
    const client = new Redis(withoutCredentials(this.url, options.username, options.password), {
      ...options,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false, // it runs INFO, which a function's user may not
    });
    client.on('error', () => {}); // a test that stops Redis reads errors from the commands it runs
    this.raws.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.connections.splice(0).map((c) => c.close()));
    for (const client of this.raws.splice(0)) client.disconnect();
  }
}

/** PTTL as the contract suites read it: undefined for no expiry or no key. */
export async function pttl(client: Redis, key: string): Promise<number | undefined> {
  const ms = await client.pttl(key);
  return ms < 0 ? undefined : ms;
}
