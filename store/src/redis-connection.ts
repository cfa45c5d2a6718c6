import { Redis } from 'ioredis';
import { InvalidStoreInputError } from './errors.js';
import { StoreUnavailableError } from './errors.js';
import { type StoreLogger, silentLogger } from './logger.js';
import { type UnavailableErrorClass, toStoreError } from './redis-errors.js';

export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /** Override the URL's credentials, e.g. a function's ACL user. */
  username?: string;
  password?: string;
  /** A command (or the first connect) that has no answer after this long fails as unavailable. */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Reconnect attempts back off exponentially from 50 ms up to this. */
  reconnectMaxDelayMs?: number;
  logger?: StoreLogger;
  /** Named in log lines, e.g. "gateway" or "state:default/hello". */
  name?: string;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 1_000;

/** Backoff for reconnect attempt `n` (1-based), from 50 ms doubling to the cap. */
export function reconnectDelay(attempt: number, maxDelayMs: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 20), maxDelayMs);
}

/**
 * One ioredis client, set up to fail fast and heal by itself:
 * - nothing is queued while disconnected (enableOfflineQueue false) and commands in flight
 *   when the connection drops are rejected at once (maxRetriesPerRequest 0) and never
 *   resent later (a write the caller saw fail must not land behind its back);
 * - a command without an answer fails after commandTimeoutMs (a server that hangs);
 * - the client reconnects forever with capped backoff, so the same object works again
 *   once Redis is back;
 * - no ready check, because it needs INFO and a function's ACL user may not run it.
 * It connects on first use. Connection errors are logged once per outage, never thrown
 * as unhandled 'error' events.
 */
export class RedisConnection {
  readonly client: Redis;
  private readonly commandTimeoutMs: number;
  private readonly logger: StoreLogger;
  private readonly name: string;
  private firstConnect: Promise<void> | undefined;
  private healthy = true;

  constructor(options: RedisConnectionOptions) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
    this.name = options.name ?? 'redis';
    const maxDelay = options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
    if (!/^rediss?:\/\//.test(options.url))
      throw new InvalidStoreInputError(
        `a Redis URL starts with redis:// or rediss://, got ${JSON.stringify(options.url)}`,
      );
    this.client = new Redis(options.url, {
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableReadyCheck: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => reconnectDelay(attempt, maxDelay),
    });
    this.client.on('error', (err: Error) => {
      if (!this.healthy) return;
      this.healthy = false;
      this.logger.warn('redis connection failed; commands fail until it is back, reconnecting', {
        connection: this.name,
        err,
      });
    });
    this.client.on('ready', () => {
      if (this.healthy) return;
      this.healthy = true;
      this.logger.info('redis connection is back', { connection: this.name });
    });
  }

  /**
   * Runs `command` on the client and maps failures to the store's errors: unavailability to
   * `Unavailable` (StoreUnavailableError by default), refusals to StoreCommandError.
   */
  async run<T>(
    operation: string,
    command: (client: Redis) => Promise<T>,
    Unavailable: UnavailableErrorClass = StoreUnavailableError,
  ): Promise<T> {
    try {
      await this.connected();
      return await command(this.client);
    } catch (err) {
      throw toStoreError(err, operation, Unavailable);
    }
  }

  /** Waits for the first connection only; after that, commands fail fast while reconnecting. */
  private async connected(): Promise<void> {
    if (this.client.status === 'wait') {
      this.firstConnect ??= this.client.connect().finally(() => {
        this.firstConnect = undefined;
      });
    }
    const pending = this.firstConnect;
    if (pending === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no connection within ${this.commandTimeoutMs} ms`)),
            this.commandTimeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** QUIT when connected (pending replies still arrive), otherwise just drop the socket and stop reconnecting. */
  async close(): Promise<void> {
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // fall through: the connection is going away anyway
      }
    }
    this.client.disconnect();
  }
}
