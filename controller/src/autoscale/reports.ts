import type { ConcurrencySample } from './window.js';

/** One gateway's report: per function (its `namespace/name` key), the requests it holds and has in flight. */
export interface ConcurrencyReport {
  /** Which gateway replica sent it (its pod name); a later report from it replaces the earlier. */
  readonly reporter: string;
  /** When it was received, by the controller's clock (never the sender's). */
  readonly at: number;
  readonly functions: Readonly<Record<string, { readonly inflight: number; readonly held: number }>>;
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
 * what it has in flight and holds. Undefined when no fresh report names the function, so the
 * decider sees missing data as missing (keep the replicas), not as zero (scale down).
 */
export function concurrencySample(
  reports: Reports,
  key: string,
  now: number,
  ttlMs = REPORT_TTL_MS,
): ConcurrencySample | undefined {
  let total = 0;
  let seen = false;
  for (const report of reports.values()) {
    if (now - report.at > ttlMs) continue;
    const fn = report.functions[key];
    if (fn === undefined) continue;
    seen = true;
    total += fn.inflight + fn.held;
  }
  return seen ? { at: now, concurrency: total } : undefined;
}
