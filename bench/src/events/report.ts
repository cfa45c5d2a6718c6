import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from '../table.js';
import { type CpuPerEvent, type Latencies, PACED_RATE_PER_S, type SourceResult } from './measure.js';

export const EVENTS_TARGETS = {
  minEventsPerS: 1_000,
  /** Origin to handler start, p99 of events offered at PACED_RATE_PER_S, in ms, under. */
  maxPacedP99Ms: 100,
} as const;

const ORIGIN_NOTE: Readonly<Record<string, string>> = {
  'ce-time': 'ce-time (commit)',
  payload: 'payload stamp',
  key: 'stamp in key',
};

const ms = (l: Latencies | null, pick: (l: Latencies) => number) =>
  l === null ? '-' : formatNumber(pick(l), 0);
const rate = (v: number | null) => (v === null ? '-' : formatNumber(v, 0));

const cpuCell = (c: CpuPerEvent) =>
  [c.gateway, c.replicas, c.nats, c.origin].map((v) => (v === null ? '-' : formatNumber(v, 0))).join('/');

export function passes(r: SourceResult): { rate: boolean; p99: boolean } {
  const complete = r.saturation.delivered >= r.saturation.events && r.paced.delivered >= r.paced.sent;
  return {
    rate: complete && r.saturation.eventsPerS >= EVENTS_TARGETS.minEventsPerS,
    // A row paced slower than the target's rate (a store that takes fewer puts) cannot meet it.
    p99:
      complete &&
      r.paced.ratePerS >= PACED_RATE_PER_S &&
      r.paced.latencyMs !== null &&
      r.paced.sent > 0 &&
      r.paced.latencyMs.p99 < EVENTS_TARGETS.maxPacedP99Ms,
  };
}

/** A source whose run broke off, and the local-mode process's last complaints. */
export interface SourceFailure {
  readonly source: string;
  readonly error: string;
  readonly gatewaySaid: string;
}

/** The per-source table, the verdicts, and any failure worth a line. */
export function eventsReport(results: readonly SourceResult[], failures: readonly SourceFailure[]): string {
  const figures = formatTable(
    [
      { title: 'source', align: 'left' },
      { title: 'origin time', align: 'left' },
      { title: 'sent/delivered', align: 'right' },
      { title: 'origin ev/s', align: 'right' },
      { title: 'e2e ev/s', align: 'right' },
      { title: 'bare ev/s', align: 'right' },
      { title: 'e2e/bare', align: 'right' },
      { title: 'sat p50/p99 ms', align: 'right' },
      { title: 'CPU µs/ev gw/fn/nats/origin', align: 'right' },
      { title: 'busy', align: 'right' },
      { title: 'paced /s', align: 'right' },
      { title: 'paced p50/p99/max ms', align: 'right' },
      { title: 'publish p50/p99', align: 'right' },
    ],
    results.map((r) => {
      const s = r.saturation;
      const p = r.paced.latencyMs;
      return [
        r.source,
        ORIGIN_NOTE[r.origin] ?? r.origin,
        `${s.sent}/${s.delivered}`,
        rate(s.publishedPerS),
        rate(s.eventsPerS),
        rate(r.baselinePerS),
        r.baselinePerS === null ? '-' : formatNumber(s.eventsPerS / r.baselinePerS, 2),
        `${ms(s.latencyMs, (l) => l.p50)}/${ms(s.latencyMs, (l) => l.p99)}`,
        cpuCell(s.cpuUsPerEvent),
        `${formatNumber(s.machineBusy * 100, 0)}%`,
        String(r.paced.ratePerS),
        `${ms(p, (l) => l.p50)}/${ms(p, (l) => l.p99)}/${ms(p, (l) => l.max)}`,
        `${ms(r.paced.publishMs, (l) => l.p50)}/${ms(r.paced.publishMs, (l) => l.p99)}`,
      ];
    }),
  );
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ...results.flatMap((r) => {
      const pass = passes(r);
      return [
        [
          `${r.source}: events/s end to end`,
          rate(r.saturation.eventsPerS),
          `≥ ${EVENTS_TARGETS.minEventsPerS}`,
          verdict(pass.rate),
        ],
        [
          `${r.source}: p99 ms at ${r.paced.ratePerS}/s`,
          ms(r.paced.latencyMs, (l) => l.p99),
          `< ${EVENTS_TARGETS.maxPacedP99Ms}`,
          verdict(pass.p99),
        ],
      ];
    }),
    // A source that broke off misses both targets.
    ...failures.map((f) => [`${f.source}: broke off`, '-', 'a result', verdict(false)]),
  ]);
  const broken = failures.map((f) => `${f.source}: FAILED: ${f.error}`);
  const notes = results.flatMap((r) =>
    [
      r.saturation.firstError && `${r.source}: saturation publish failed: ${r.saturation.firstError}`,
      r.baselineError && `${r.source}: baseline failed: ${r.baselineError}`,
      r.paced.firstError && `${r.source}: paced publish failed: ${r.paced.firstError}`,
    ].filter((n): n is string => typeof n === 'string' && n !== ''),
  );
  const legend = [
    'origin ev/s: the rate the origin took the saturation phase at',
    "e2e ev/s: delivered / (first publish, or a backlog's release → last handler start); bare: the baseline client over the same events",
    "CPU µs/ev: the local-mode process (gw), its replicas (fn), nats-server and the origin's server, per event",
    'busy: the whole machine over the saturation phase',
    `paced: events offered at ${PACED_RATE_PER_S}/s (or what the origin can take) for the latency`,
    'publish: how long the origin took to acknowledge each paced event (a part of the latency)',
  ].join('\n');
  return [figures, legend, verdicts, ...broken, ...notes].join('\n\n');
}
