import type { Logger } from '@nimbus/api';
import type { VersionOutcomes } from '@nimbus/api/traffic';
import type { RouteTable } from '../routing/route-table.js';
import type { ControllerPeers } from './controller-peers.js';

/** One function's load through one gateway since its previous report. */
export interface FunctionLoad {
  /** Requests in flight at the moment of the report. */
  inflight: number;
  /** Requests held for a replica at that moment. */
  held: number;
  /** Requests in flight averaged over the interval by their time in flight (every request counts). */
  average: number;
  /** Requests that started in the interval. */
  requests: number;
  /** Since when nothing has been in flight (0: something is); absent when nothing ever was. */
  idleMs?: number;
}

/** One source trigger run by this gateway, as a report carries it. */
export interface SourceHealthLine {
  connected: boolean;
  backlog?: number;
  lastError?: string;
  lastEventAt?: number;
}

/** What one report says: per function key, its load through this gateway; per source trigger run here, its health. */
export interface ReportBody {
  reporter: string;
  functions: Record<string, FunctionLoad>;
  sources?: Record<string, SourceHealthLine>;
  /** Per version route key (`ns/fn@vN`) that had calls: their outcomes since the last report. */
  outcomes?: Record<string, VersionOutcomes>;
}

/**
 * The report of every function this gateway knows, closing each function's metering interval: a
 * report is the meters' one reader in a cluster.
 */
export function reportOf(
  reporter: string,
  routes: RouteTable,
  sources: () => Readonly<Record<string, SourceHealthLine>> = () => ({}),
): ReportBody {
  const functions: ReportBody['functions'] = {};
  const outcomes: Record<string, VersionOutcomes> = {};
  for (const route of routes.list()) {
    const taken = route.outcomes?.take();
    if (taken !== undefined) outcomes[route.key] = taken;
    const { average, requests, idleMs } = route.load.read();
    const load: FunctionLoad = { inflight: route.load.inflight, held: route.held.size, average, requests };
    if (idleMs !== undefined) load.idleMs = idleMs;
    functions[route.key] = load;
  }
  const health: Record<string, SourceHealthLine> = {};
  for (const [key, h] of Object.entries(sources())) {
    const line: SourceHealthLine = { connected: h.connected };
    if (h.backlog !== undefined) line.backlog = h.backlog;
    if (h.lastError !== undefined) line.lastError = h.lastError;
    if (h.lastEventAt !== undefined) line.lastEventAt = h.lastEventAt;
    health[key] = line;
  }
  const body: ReportBody = { reporter, functions };
  if (Object.keys(health).length > 0) body.sources = health;
  if (Object.keys(outcomes).length > 0) body.outcomes = outcomes;
  return body;
}

/**
 * Tells the controllers, every interval, how much each function is asked of this gateway, so
 * the leader's autoscaler can sum across gateways. Every controller replica gets the report, so
 * a standby that takes over already knows the load. A failed POST is dropped: the next one
 * carries the whole picture again.
 */
export class ConcurrencyReporter {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly routes: RouteTable,
    private readonly controllers: ControllerPeers,
    private readonly reporter: string,
    private readonly intervalMs: number,
    private readonly token: string | undefined,
    private readonly log: Logger,
    /** The health of the source triggers this gateway runs (sources/source-health.ts). */
    private readonly sources?: () => Readonly<Record<string, SourceHealthLine>>,
  ) {}

  start(): void {
    if (!this.controllers.configured || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.reportOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async reportOnce(): Promise<void> {
    const body = JSON.stringify(reportOf(this.reporter, this.routes, this.sources));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const results = await Promise.allSettled(
      (await this.controllers.urls()).map(async (url) => {
        const reply = await fetch(`${url}/v1/reports`, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.intervalMs),
        });
        await reply.arrayBuffer();
        if (!reply.ok) throw new Error(`${url}/v1/reports answered ${reply.status}`);
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    // Said once when reporting starts failing and once when it recovers, not every second.
    if (failed.length > 0 && !this.failing) {
      this.log.warn('could not report concurrency to a controller', { err: failed[0]?.reason });
    } else if (failed.length === 0 && this.failing) {
      this.log.info('reporting concurrency to the controllers again');
    }
    this.failing = failed.length > 0;
  }
}
