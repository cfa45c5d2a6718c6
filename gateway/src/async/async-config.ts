import { ConfigError, type Env, readInt } from '@nimbus/api';
import { type NatsCredentials, readNatsCredentials, readNatsUrl } from '@nimbus/bus';
import { type StoreConfig, parseStoreConfig } from '@nimbus/store';

/** Async calls: where they queue and how the workers that run them behave. */
export interface AsyncConfig {
  /** NATS with JetStream, comma-separated for a cluster; undefined: the in-memory bus (local mode). */
  readonly natsUrl: string | undefined;
  /** The gateway's NATS user (NIMBUS_NATS_USER, NIMBUS_NATS_PASSWORD); undefined: anonymous. */
  readonly natsCredentials: NatsCredentials | undefined;
  /** Calls one gateway replica runs at once. */
  readonly concurrency: number;
  /**
   * The largest async request body. It travels inside one NATS message, and NATS refuses
   * messages over its max_payload (1 MiB unless the server says otherwise).
   */
  readonly maxBodyBytes: number;
  /** Calls delivered and not yet settled across every gateway, retries waiting for their backoff included. */
  readonly maxAckPending: number;
  /** How often a result is POSTed to a callback URL before it is given up. */
  readonly callbackAttempts: number;
  readonly callbackTimeoutMs: number;
}

/** The first step of a failed callback's backoff; each next one doubles. */
export const CALLBACK_RETRY_BASE_MS = 500;

/**
 * - NIMBUS_NATS_URL: JetStream for async calls; unset: an in-memory queue, lost on restart
 * - NIMBUS_NATS_USER, NIMBUS_NATS_PASSWORD: the gateway's NATS user; unset: anonymous
 * - NIMBUS_ASYNC_CONCURRENCY (32): calls one gateway runs at once
 * - NIMBUS_ASYNC_MAX_BODY_BYTES (983040, 960 KiB): larger async requests get 413
 * - NIMBUS_ASYNC_MAX_ACK_PENDING (10000): calls in progress or waiting to be retried, all gateways together
 * - NIMBUS_CALLBACK_ATTEMPTS (3), NIMBUS_CALLBACK_TIMEOUT_MS (10000): POSTs of a result to X-Callback-Url
 */
export function readAsyncConfig(env: Env): AsyncConfig {
  return Object.freeze({
    natsUrl: readNatsUrl(env),
    natsCredentials: readNatsCredentials(env),
    concurrency: readInt(env, 'NIMBUS_ASYNC_CONCURRENCY', 32, 1, 1024),
    maxBodyBytes: readInt(env, 'NIMBUS_ASYNC_MAX_BODY_BYTES', 960 * 1024, 1, 64 * 1024 * 1024),
    maxAckPending: readInt(env, 'NIMBUS_ASYNC_MAX_ACK_PENDING', 10_000, 1, 1_000_000),
    callbackAttempts: readInt(env, 'NIMBUS_CALLBACK_ATTEMPTS', 3, 1, 10),
    callbackTimeoutMs: readInt(env, 'NIMBUS_CALLBACK_TIMEOUT_MS', 10_000, 100, 300_000),
  });
}

/** The store settings (NIMBUS_REDIS_URL and the limits); a bad key is a ConfigError naming it. */
export function readStoreConfig(env: Env): StoreConfig {
  return parseStoreConfig(env);
}
