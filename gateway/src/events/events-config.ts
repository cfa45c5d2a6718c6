import { randomBytes } from 'node:crypto';
import { type Env, readInt } from '@nimbus/api';

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
}

export const DEFAULT_EVENT_MAX_BYTES = 256 * 1024;
export const DEFAULT_DESTINATION_MAX_HOPS = 8;

export function readEventsConfig(env: Env): EventsConfig {
  const stateKey = env.NIMBUS_STATE_KEY ?? '';
  return Object.freeze({
    maxDataBytes: readInt(env, 'NIMBUS_EVENT_MAX_BYTES', DEFAULT_EVENT_MAX_BYTES, 1, 1024 * 1024),
    maxHops: readInt(env, 'NIMBUS_DESTINATION_MAX_HOPS', DEFAULT_DESTINATION_MAX_HOPS, 1, 64),
    sealKey: stateKey === '' ? randomBytes(32).toString('base64url') : stateKey,
  });
}
