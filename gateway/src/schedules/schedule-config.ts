import { hostname } from 'node:os';
import { type Env, readInt } from '@nimbus/api';

export interface ScheduleConfig {
  /** This gateway's name in its tick claims. */
  readonly owner: string;
  /** A tick missed (no gateway ran) by less than this still fires; older ones are skipped. */
  readonly catchUpMs: number;
  /** How long a Forbid or Replace run's lease outlives a gateway that died holding it. */
  readonly leaseMs: number;
}

/**
 * - NIMBUS_SCHEDULE_CATCH_UP_MS (60000): how late a missed cron tick may still fire
 * - NIMBUS_SCHEDULE_LEASE_MS (10000): how long a gateway that died mid-run keeps blocking a Forbid schedule
 * - POD_NAME: this replica's name in its claims (the host name and pid otherwise)
 */
export function readScheduleConfig(env: Env): ScheduleConfig {
  return Object.freeze({
    owner: env.POD_NAME || `${hostname()}-${process.pid}`,
    catchUpMs: readInt(env, 'NIMBUS_SCHEDULE_CATCH_UP_MS', 60_000, 0, 86_400_000),
    leaseMs: readInt(env, 'NIMBUS_SCHEDULE_LEASE_MS', 10_000, 1_000, 3_600_000),
  });
}
