import { backoffDelay } from '@nimbus/api/backoff';
import { Redis } from 'ioredis';
import { InvalidStoreInputError, StoreUnavailableError } from '../errors.js';
import { type StoreLogger, silentLogger } from '../logger.js';
import { type UnavailableErrorClass, toStoreError } from './errors.js';

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

/**
 * The URL without user and password when the options carry their own: ioredis lets the URL's
 * credentials win over the options, which would log a function in with the URL's user.
 */
export function withoutCredentials(url: string, username?: string, password?: string): string {
  if (username === undefined && password === undefined) return url;
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/** Backoff for reconnect attempt `n` (1-based), from 50 ms doubling to the cap. */
export function reconnectDelay(attempt: number, maxDelayMs: number): number {
  return backoffDelay({ baseMs: 50, maxMs: maxDelayMs }, attempt);
}

/**
 * One ioredis client, set up to fail fast and heal by itself:
 * - nothing is queued while disconnected (enableOfflineQueue false) and commands in flight
 *   when the connection drops are rejected at once (maxRetriesPerRequest 0) and never
 *   resent later (a write the caller saw fail must not land behind its back);
 * - a command without an answer fails after commandTimeoutMs (a server that hangs);
 * - the client reconnects forever with capped backoff, so the same object works again
 *   once Redis is back;
 * - no ready check and no CLIENT SETINFO, which a function's ACL user may not run.
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
  private closing = false;
  /** Why the connection last failed (a refused login, a refused connect), for the errors calls get meanwhile. */
  private lastConnectionError: Error | undefined;

  constructor(options: RedisConnectionOptions) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.logger = options.logger ?? silentLogger;
    this.name = options.name ?? 'redis';
    const maxDelay = options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
    if (!/^rediss?:\/\//.test(options.url))
      throw new InvalidStoreInputError(
        `a Redis URL starts with redis:// or rediss://, got ${JSON.stringify(options.url)}`,
      );
    this.client = new Redis(withoutCredentials(options.url, options.username, options.password), {
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableReadyCheck: false,
      // CLIENT SETINFO is not among a function user's commands, and each refusal would land in ACL LOG.
      disableClientInfo: true,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => reconnectDelay(attempt, maxDelay),
    });
    // One warning when an outage starts (a dropped connection, a refused connect or login),
    // one line when a call succeeds again; not one per reconnect attempt. 'ready' is no proof
    // of health: ioredis reaches it even when the login was refused.
    this.client.on('error', (err: Error) => {
      this.lastConnectionError = err;
      this.unhealthy('redis connection failed', err);
    });
    this.client.on('close', () => this.unhealthy('redis connection lost'));
  }

  private healthyAgain(): void {
    this.lastConnectionError = undefined;
    if (this.healthy) return;
    this.healthy = true;
    this.logger.info('redis connection is back', { connection: this.name });
  }

  private unhealthy(msg: string, err?: Error): void {
    if (!this.healthy || this.closing) return;
    this.healthy = false;
    this.logger.warn(`${msg}; calls fail until it is back, reconnecting`, {
      connection: this.name,
      ...(err ? { err } : {}),
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
      const result = await command(this.client);
      this.healthyAgain();
      return result;
    } catch (err) {
      throw toStoreError(err, operation, Unavailable, this.lastConnectionError);
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

  /**
   * Up as far as the connection's events tell: connected, and no failure (a dropped connection,
   * a refused connect or login) since the last command that succeeded.
   */
  get reachable(): boolean {
    return this.healthy && this.client.status === 'ready';
  }

  /** Sends a PING (connecting first if need be), so that `reachable` reflects Redis now; never throws. */
  probe(): void {
    this.run('ping', (client) => client.ping()).catch(() => {});
  }

  /** QUIT when connected (pending replies still arrive), otherwise just drop the socket and stop reconnecting. */
  async close(): Promise<void> {
    this.closing = true;
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
