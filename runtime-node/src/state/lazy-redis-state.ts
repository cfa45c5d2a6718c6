import { performance } from 'node:perf_hooks';
import type { Logger } from '@nimbus/api/log';
import type { StateEntry } from '../contract.js';
import type { StatePort } from './function-state.js';
import type { RedisStateSettings } from './redis-state-port.js';
import { StateUnavailableError } from './state-errors.js';

type Opener = (
  settings: RedisStateSettings,
  namespace: string,
  fn: string,
  logger: Logger,
) => Promise<StatePort>;

/**
 * Loads the Redis adapter with `import()` on the first state call: its module graph (ioredis,
 * the store) costs a function that never calls ctx.state nothing at start-up. A failed load or
 * open fails that call as unavailable and is tried again by the next.
 */
export const loadRedisOpener = async (): Promise<Opener> =>
  (await import('./redis-state-port.js')).openRedisStatePort;

export class LazyRedisStatePort implements StatePort {
  private opening: Promise<StatePort> | undefined;

  constructor(
    private readonly settings: RedisStateSettings,
    private readonly namespace: string,
    private readonly fn: string,
    private readonly logger: Logger,
    private readonly load: () => Promise<Opener> = loadRedisOpener,
  ) {}

  async get(key: string): Promise<StateEntry | undefined> {
    return (await this.port()).get(key);
  }

  async set(key: string, value: unknown, options?: { ttlMs?: number }): Promise<string> {
    return (await this.port()).set(key, value, options);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.port()).delete(key);
  }

  async incr(key: string, by?: number): Promise<number> {
    return (await this.port()).incr(key, by);
  }

  async compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options?: { ttlMs?: number },
  ): Promise<{ ok: true; version: string } | { ok: false; currentVersion: string | null }> {
    return (await this.port()).compareAndSet(key, expectedVersion, value, options);
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    const port = await opening?.catch(() => undefined);
    await port?.close();
  }

  private port(): Promise<StatePort> {
    if (this.opening === undefined) {
      const attempt = this.open();
      this.opening = attempt;
      attempt.catch(() => {
        if (this.opening === attempt) this.opening = undefined;
      });
    }
    return this.opening;
  }

  private async open(): Promise<StatePort> {
    const started = performance.now();
    let open: Opener;
    try {
      open = await this.load();
      this.logger.info('function state: Redis adapter loaded', {
        loadMs: Math.round((performance.now() - started) * 10) / 10,
      });
    } catch (error) {
      throw new StateUnavailableError(
        `function state: the Redis adapter could not be loaded: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return open(this.settings, this.namespace, this.fn, this.logger);
  }
}
