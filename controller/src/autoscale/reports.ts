import type { VersionOutcomes } from '@nimbus/api/traffic';
import type { TriggerHealthSeen } from '../sources/trigger-status.js';
import type { ConcurrencySample } from './window.js';

/** One function's load through one gateway over the interval since that gateway's last report. */
export interface FunctionLoad {
  /** Requests in flight when the report was made. */
  readonly inflight: number;
  /** Requests held for a replica then. */
  readonly held: number;
  /** Requests in flight over the interval, each weighted by its time in flight; absent from older gateways. */
  readonly average?: number;
  /** Requests that started in the interval. */
  readonly requests?: number;
  /** How long nothing had been in flight when the report was made (0: something was); absent: never. */
  readonly idleMs?: number;
}

/** One gateway's report: per function (its `namespace/name` key), its load through that gateway. */
export interface ConcurrencyReport {
  /** Which gateway replica sent it (its pod name); a later report from it replaces the earlier. */
  readonly reporter: string;
  /** When it was received, by the controller's clock (never the sender's). */
  readonly at: number;
  readonly functions: Readonly<Record<string, FunctionLoad>>;
  /** The health of the source triggers that gateway runs, by `namespace/function/trigger`. */
  readonly sources?: Readonly<Record<string, TriggerHealthSeen>>;
  /**
   * What each version of a versioned Function did through that gateway since its previous report,
   * keyed by the version's route (`namespace/function@vN`): deltas, so each is counted once, as
   * it arrives, by the rollout driver; never summed again from the latest reports.
   */
  readonly outcomes?: Readonly<Record<string, VersionOutcomes>>;
}

/** Reports older than this count for nothing: the gateway that sent them has gone silent. */
export const REPORT_TTL_MS = 3000;

export type Reports = ReadonlyMap<string, ConcurrencyReport>;

/** The reports with `report` in place of its sender's last one. Pure: the caller keeps the map. */
export function withReport(reports: Reports, report: ConcurrencyReport): Map<string, ConcurrencyReport> {
  const next = new Map(reports);
  next.set(report.reporter, report);
  return next;
}

/** The reports still fresh at `now`; a gateway that stopped reporting ages out. */
export function freshReports(
  reports: Reports,
  now: number,
  ttlMs = REPORT_TTL_MS,
): Map<string, ConcurrencyReport> {
  return new Map([...reports].filter(([, r]) => now - r.at <= ttlMs));
}

/**
 * A function's concurrency at `now`: the sum over every gateway that reported within the TTL of
 * its time-weighted average in flight (in flight at the report, from a gateway that sends no
 * average) and what it holds; and when a request was last in flight through any of them, so a
 * function whose requests all fall between reports is still seen as busy. Undefined when no fresh
 * report names the function, so the decider sees missing data as missing (keep the replicas), not
 * as zero (scale down).
 */
export function concurrencySample(
  reports: Reports,
  key: string,
  now: number,
  ttlMs = REPORT_TTL_MS,
): ConcurrencySample | undefined {
  let total = 0;
  let seen = false;
  let lastActiveAt: number | undefined;
  for (const report of reports.values()) {
    if (now - report.at > ttlMs) continue;
    const fn = report.functions[key];
    if (fn === undefined) continue;
    seen = true;
    total += (fn.average ?? fn.inflight) + fn.held;
    const idleMs = fn.inflight + fn.held > 0 ? 0 : fn.idleMs;
    if (idleMs === undefined) continue;
    const activeAt = report.at - idleMs;
    if (lastActiveAt === undefined || activeAt > lastActiveAt) lastActiveAt = activeAt;
  }
  if (!seen) return undefined;
  return lastActiveAt === undefined
    ? { at: now, concurrency: total }
    : { at: now, concurrency: total, lastActiveAt };
}
