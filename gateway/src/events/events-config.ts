import { randomBytes } from 'node:crypto';
import { ConfigError, type Env, readInt } from '@nimbus/api';
import type { NatsCredentials } from '@nimbus/bus';

/** ctx.publish and destinations. */
export interface EventsConfig {
  /** The most data one published event carries (NIMBUS_EVENT_MAX_BYTES); larger is refused with 413. */
  readonly maxDataBytes: number;
  /** How many destinations a chain of outcomes may travel before it is stopped (NIMBUS_DESTINATION_MAX_HOPS). */
  readonly maxHops: number;
  /**
   * The key the gateway seals the attributes of its events with (event-seal.ts): the platform's
   * state key, which every gateway replica holds; without one (local mode, one gateway), a key of
   * this process's own.
   */
  readonly sealKey: string;
  /**
   * The NATS user events are published as (NIMBUS_NATS_EVENTS_USER, NIMBUS_NATS_EVENTS_PASSWORD):
   * the publisher user, whose permissions deny every subject of Nimbus's and NATS's own, so
   * what functions publish cannot reach them even past a bug in the gateway's checks. Unset: the
   * gateway's own connection (local mode, or a NATS without users).
   */
  readonly natsCredentials: NatsCredentials | undefined;
}

export const DEFAULT_EVENT_MAX_BYTES = 256 * 1024;
export const DEFAULT_DESTINATION_MAX_HOPS = 8;

export function readEventsConfig(env: Env): EventsConfig {
  const stateKey = env.NIMBUS_STATE_KEY ?? '';
  return Object.freeze({
    maxDataBytes: readInt(env, 'NIMBUS_EVENT_MAX_BYTES', DEFAULT_EVENT_MAX_BYTES, 1, 1024 * 1024),
    maxHops: readInt(env, 'NIMBUS_DESTINATION_MAX_HOPS', DEFAULT_DESTINATION_MAX_HOPS, 1, 64),
    sealKey: stateKey === '' ? randomBytes(32).toString('base64url') : stateKey,
    natsCredentials: eventsCredentials(env),
  });
}

function eventsCredentials(env: Env): NatsCredentials | undefined {
  const user = env.NIMBUS_NATS_EVENTS_USER || undefined;
  const pass = env.NIMBUS_NATS_EVENTS_PASSWORD || undefined;
  if (user === undefined && pass === undefined) return undefined;
  if (user === undefined)
    throw new ConfigError('NIMBUS_NATS_EVENTS_USER', 'must be set with NIMBUS_NATS_EVENTS_PASSWORD');
  if (pass === undefined)
    throw new ConfigError('NIMBUS_NATS_EVENTS_PASSWORD', 'must be set with NIMBUS_NATS_EVENTS_USER');
  if (!env.NIMBUS_NATS_URL)
    throw new ConfigError(
      'NIMBUS_NATS_EVENTS_USER',
      'is set but NIMBUS_NATS_URL is not: there is no NATS to log in to',
    );
  return Object.freeze({ user, pass });
}
