import { type ResolvedSource, sourceKey } from '@nimbus/api';
import type { SourceHealth } from '@nimbus/sources';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SetupFailure } from './setup-failure.js';

/** One source trigger's health as this gateway knows it, for status and the admin API. */
export interface SourceHealthReport {
  readonly kind: string;
  readonly connected: boolean;
  readonly backlog?: number;
  readonly lastError?: string;
  /** Events this gateway handed on (stored, or delivered straight) since it started. */
  readonly events: number;
  /** When the last event was handed on (epoch ms). */
  readonly lastEventAt?: number;
  /** When the health last changed (epoch ms). */
  readonly since: number;
  /** Set when the trigger could not be set up as configured: status names that, not a disconnection. */
  readonly setup?: SetupFailure;
}

type Labels = 'namespace' | 'function' | 'trigger' | 'kind';

const MAX_ERROR_LENGTH = 500;
/** The login of a URL (`scheme://user:password@`): every kind redacts its own, this is the last guard. */
const URL_LOGIN = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi;

/**
 * An error as health shows it: on one line, at most 500 characters, and without the login of any URL
 * in it. Health reaches status, the admin API and the controller's reports; a reader's error can quote
 * the connection string a Secret holds.
 */
export function healthError(text: string): string {
  return text
    .slice(0, 8 * MAX_ERROR_LENGTH)
    .replace(/\s+/g, ' ')
    .replace(URL_LOGIN, '$1***@')
    .slice(0, MAX_ERROR_LENGTH);
}

type EventResult = 'stored' | 'store-failed' | 'delivered' | 'dead-lettered' | 'refused';

/** A report as the board keeps it: changed in place, since `count()` runs for every event. */
type Entry = { -readonly [K in keyof SourceHealthReport]: SourceHealthReport[K] };

/**
 * What every source trigger run by this gateway reports: kept for the reports the controller
 * reads (status conditions) and exported as metrics. A trigger this gateway does not run (another
 * replica holds its lease) has no entry here.
 *
 * `count()` and `report()` run for every event and every word from an origin, so they only change
 * numbers in place; the metrics are filled from them when scraped.
 */
export class SourceHealthBoard {
  private readonly entries = new Map<string, Entry>();
  /**
   * Events by result per trigger and kind since this gateway started; kept when the trigger goes,
   * as counters are. A trigger whose kind changed counts under the new kind's series.
   */
  private readonly totals = new Map<
    string,
    { labels: Record<Labels, string>; counts: Map<EventResult, number> }
  >();
  private readonly labelsOf = new Map<string, Record<Labels, string>>();

  constructor(
    registry: Registry,
    private readonly now: () => number,
  ) {
    const board = this;
    new Gauge({
      name: 'nimbus_source_connected',
      help: 'Whether the source trigger run by this gateway is connected to its origin (1) or not (0).',
      labelNames: ['namespace', 'function', 'trigger', 'kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, entry] of board.entries) {
          const labels = board.labelsOf.get(key);
          if (labels !== undefined) this.set(labels, entry.connected ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'nimbus_source_backlog',
      help: "Events the source's origin holds that the trigger has not handed on yet, where the origin tells.",
      labelNames: ['namespace', 'function', 'trigger', 'kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, entry] of board.entries) {
          const labels = board.labelsOf.get(key);
          if (labels !== undefined && entry.backlog !== undefined) this.set(labels, entry.backlog);
        }
      },
    });
    new Counter({
      name: 'nimbus_source_events_total',
      help:
        'Source events by what became of them in this gateway: stored (in the durable path), store-failed ' +
        '(left to the origin to give again), delivered, dead-lettered (straight from a queue), refused ' +
        '(a pushed request refused).',
      labelNames: ['namespace', 'function', 'trigger', 'kind', 'result'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, counts } of board.totals.values())
          for (const [result, count] of counts) this.inc({ ...labels, result }, count);
      },
    });
  }

  report(source: ResolvedSource, health: SourceHealth): void {
    const key = sourceKey(source);
    const before = this.entries.get(key);
    const lastError = health.lastError === undefined ? undefined : healthError(health.lastError);
    this.labels(key, source);
    if (before === undefined) {
      const entry: Entry = { kind: source.kind, connected: health.connected, events: 0, since: this.now() };
      if (health.backlog !== undefined) entry.backlog = health.backlog;
      if (lastError !== undefined) entry.lastError = lastError;
      this.entries.set(key, entry);
      return;
    }
    if (
      before.connected !== health.connected ||
      before.lastError !== lastError ||
      before.backlog !== health.backlog
    )
      before.since = this.now();
    before.kind = source.kind;
    before.connected = health.connected;
    if (health.backlog === undefined) delete before.backlog;
    else before.backlog = health.backlog;
    if (lastError === undefined) delete before.lastError;
    else before.lastError = lastError;
    delete before.setup;
  }

  /**
   * How setting the trigger up went: a failure of its configuration is kept (not connected, its
   * message as the error) until it is set up, or a reader reports; set up, a failure kept goes.
   */
  setup(source: ResolvedSource, failure: SetupFailure | undefined): void {
    const key = sourceKey(source);
    const before = this.entries.get(key);
    if (failure === undefined) {
      if (before?.setup !== undefined) this.entries.delete(key);
      return;
    }
    this.report(source, { connected: false, lastError: failure.message });
    const entry = this.entries.get(key);
    if (entry !== undefined) entry.setup = { ...failure, message: healthError(failure.message) };
  }

  /** An event handed on, or not. */
  count(source: ResolvedSource, result: EventResult): void {
    const key = sourceKey(source);
    const totalKey = `${key}/${source.kind}`;
    let total = this.totals.get(totalKey);
    if (total === undefined) {
      total = { labels: this.labels(key, source), counts: new Map() };
      this.totals.set(totalKey, total);
    }
    total.counts.set(result, (total.counts.get(result) ?? 0) + 1);
    if (result === 'refused' || result === 'store-failed') return;
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.labels(key, source);
      const now = this.now();
      this.entries.set(key, { kind: source.kind, connected: true, events: 1, lastEventAt: now, since: now });
      return;
    }
    entry.events++;
    entry.lastEventAt = this.now();
  }

  /** The trigger no longer runs here: its entry and its gauges go (its counts stay, as counters do). */
  forget(source: ResolvedSource): void {
    this.entries.delete(sourceKey(source));
  }

  /** One trigger's entry, by `namespace/function/trigger`; undefined when it does not run here. */
  of(key: string): SourceHealthReport | undefined {
    const entry = this.entries.get(key);
    return entry === undefined ? undefined : { ...entry };
  }

  /** Every trigger run here, by `namespace/function/trigger`. */
  snapshot(): Record<string, SourceHealthReport> {
    return Object.fromEntries([...this.entries].map(([key, entry]) => [key, { ...entry }]));
  }

  /** A trigger's metric labels, made once (again if its kind changed). */
  private labels(key: string, source: ResolvedSource): Record<Labels, string> {
    let labels = this.labelsOf.get(key);
    if (labels === undefined || labels.kind !== source.kind) {
      labels = {
        namespace: source.namespace,
        function: source.function,
        trigger: source.name,
        kind: source.kind,
      };
      this.labelsOf.set(key, labels);
    }
    return labels;
  }
}
