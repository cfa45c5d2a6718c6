import type { Clock, Logger } from '@nimbus/api';
import type { Registry } from 'prom-client';
import type { RouteTable } from '../routing/route-table.js';
import { errorCounts, historyPoint } from './history-point.js';
import { type HistoryColumns, HistoryRing, type RecentError } from './history-ring.js';
import { type FunctionTotals, emptyTotals, readTotals } from './metric-totals.js';

export interface StatsConfig {
  /** Time between points (NIMBUS_STATS_INTERVAL_MS); the plots span `points` of them. */
  readonly intervalMs: number;
  /** Points kept per function. */
  readonly points: number;
  /** Functions with a history at most; see FunctionStats. */
  readonly maxFunctions: number;
}

/** 360 points of 10 s: the last hour. */
export const DEFAULT_STATS: StatsConfig = Object.freeze({
  intervalMs: 10_000,
  points: 360,
  maxFunctions: 500,
});

/** What the dashboard's list shows of a function beside its resource, as of now. */
export interface FunctionLiveStats {
  namespace: string;
  name: string;
  /** Ready replicas in the route table. */
  replicas: number;
  inflight: number;
  held: number;
  unavailableReason?: string;
  failure?: string;
  /** False when the function is beyond `maxFunctions`: no plots for it. */
  tracked: boolean;
  recentErrors: RecentError[];
}

interface Tracked {
  ring: HistoryRing;
  /** The totals at the last sample, which the next point is the difference from. */
  totals: FunctionTotals | undefined;
}

/**
 * The dashboard's per-function history: every `intervalMs` it reads the counters the invoke path
 * keeps anyway (by series name from the registry, and each route's concurrency meter) and writes
 * one point per function into a fixed ring. Nothing runs on the invoke path; a sample reads the
 * request counter and the two histograms' running totals (metric-totals.ts): measured 0.06 ms
 * at 10 functions, 8 ms for 500 tracked among 5,000.
 *
 * Memory is bounded twice: each function's ring is fixed (8 + 8·4 bytes a point, 14 KB for an
 * hour of 10 s points), and at most `maxFunctions` functions have one (7 MB at 500). The functions
 * are those of the route table, which operators fill, not callers (a call to an unknown name is
 * counted under no function), and a function keeps its ring from the first sample that sees it
 * until it is removed: past the cap a new function gets none, rather than taking an older one's
 * plots away. A function's first sample is its baseline, so a plot starts one interval after it.
 */
export class FunctionStats {
  private readonly tracked = new Map<string, Tracked>();
  private lastAt: number | undefined;
  private timer: unknown;
  private sampling: Promise<void> | undefined;

  constructor(
    readonly config: StatsConfig,
    private readonly registry: Registry,
    private readonly routes: RouteTable,
    private readonly clock: Clock,
    private readonly log?: Logger,
  ) {}

  /**
   * Samples now, resolving once that first reading (every function's baseline) is in, then every
   * `intervalMs` until stop().
   */
  start(): Promise<void> {
    if (this.timer !== undefined) return Promise.resolve();
    const tick = () => {
      this.timer = this.clock.setTimeout(tick, this.config.intervalMs);
      this.sampling = this.sample().catch((err: unknown) =>
        this.log?.warn('could not sample the functions history', { err }),
      );
    };
    tick();
    return this.sampling as Promise<void>;
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.sampling;
  }

  /** One point for every tracked function (start() calls it; tests call it after stepping the clock). */
  async sample(): Promise<void> {
    const at = this.clock.now();
    // A version route's calls are counted under its Function (the metrics' function label).
    const routes = this.routes.list().filter((r) => r.version === undefined);
    const present = new Set(routes.map((r) => r.key));
    for (const key of this.tracked.keys()) if (!present.has(key)) this.tracked.delete(key);
    for (const route of routes) {
      if (this.tracked.size >= this.config.maxFunctions) break;
      if (!this.tracked.has(route.key))
        this.tracked.set(route.key, { ring: new HistoryRing(this.config.points), totals: undefined });
    }
    const totals = await readTotals(this.registry, (key) => this.tracked.has(key));
    const seconds = this.lastAt === undefined ? 0 : (at - this.lastAt) / 1000;
    this.lastAt = at;
    for (const route of routes) {
      const entry = this.tracked.get(route.key);
      if (entry === undefined) continue;
      const now = totals.get(route.key) ?? emptyTotals();
      now.inflightAreaMs = route.load.areaSinceStartMs();
      if (entry.totals !== undefined && seconds > 0)
        entry.ring.push(
          at,
          historyPoint(entry.totals, now, seconds, route.endpoints.length),
          errorCounts(entry.totals, now),
        );
      entry.totals = now;
    }
  }

  /** A function's plots; undefined when it has no history (unknown, or beyond the cap). */
  history(key: string): HistoryColumns | undefined {
    return this.tracked.get(key)?.ring.columnsJson();
  }

  /** Every function in the route table as of now, with its recent errors. */
  live(): FunctionLiveStats[] {
    return this.routes.list().map((route) => {
      const entry = this.tracked.get(route.key);
      return {
        namespace: route.namespace,
        name: route.name,
        replicas: route.endpoints.length,
        inflight: route.load.inflight,
        held: route.held.size,
        ...(route.unavailableReason === undefined ? {} : { unavailableReason: route.unavailableReason }),
        ...(route.failure === undefined ? {} : { failure: route.failure }),
        tracked: entry !== undefined,
        recentErrors: entry?.ring.recentErrors() ?? [],
      };
    });
  }
}
