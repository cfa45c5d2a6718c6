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

/**
 * What every source trigger run by this gateway reports: kept for the reports the controller
 * reads (status conditions) and exported as metrics. A trigger this gateway does not run (another
 * replica holds its lease) has no entry here.
 */
export class SourceHealthBoard {
  private readonly entries = new Map<string, SourceHealthReport>();
  private readonly connected: Gauge<Labels>;
  private readonly backlog: Gauge<Labels>;
  private readonly events: Counter<Labels | 'result'>;

  constructor(
    registry: Registry,
    private readonly now: () => number,
  ) {
    this.connected = new Gauge({
      name: 'nimbus_source_connected',
      help: 'Whether the source trigger run by this gateway is connected to its origin (1) or not (0).',
      labelNames: ['namespace', 'function', 'trigger', 'kind'],
      registers: [registry],
    });
    this.backlog = new Gauge({
      name: 'nimbus_source_backlog',
      help: "Events the source's origin holds that the trigger has not handed on yet, where the origin tells.",
      labelNames: ['namespace', 'function', 'trigger', 'kind'],
      registers: [registry],
    });
    this.events = new Counter({
      name: 'nimbus_source_events_total',
      help:
        'Source events by what became of them in this gateway: stored (in the durable path), store-failed ' +
        '(left to the origin to give again), delivered, dead-lettered (straight from a queue), refused ' +
        '(a pushed request refused).',
      labelNames: ['namespace', 'function', 'trigger', 'kind', 'result'],
      registers: [registry],
    });
  }

  report(source: ResolvedSource, health: SourceHealth): void {
    const key = sourceKey(source);
    const before = this.entries.get(key);
    const lastError = health.lastError === undefined ? undefined : healthError(health.lastError);
    const changed =
      before === undefined ||
      before.connected !== health.connected ||
      before.lastError !== lastError ||
      before.backlog !== health.backlog;
    this.entries.set(key, {
      kind: source.kind,
      connected: health.connected,
      ...(health.backlog === undefined ? {} : { backlog: health.backlog }),
      ...(lastError === undefined ? {} : { lastError }),
      events: before?.events ?? 0,
      ...(before?.lastEventAt === undefined ? {} : { lastEventAt: before.lastEventAt }),
      since: changed ? this.now() : (before?.since ?? this.now()),
    });
    const labels = this.labels(source);
    this.connected.set(labels, health.connected ? 1 : 0);
    if (health.backlog !== undefined) this.backlog.set(labels, health.backlog);
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
    if (entry !== undefined)
      this.entries.set(key, { ...entry, setup: { ...failure, message: healthError(failure.message) } });
  }

  /** An event handed on, or not. */
  count(
    source: ResolvedSource,
    result: 'stored' | 'store-failed' | 'delivered' | 'dead-lettered' | 'refused',
  ): void {
    this.events.inc({ ...this.labels(source), result });
    if (result === 'refused' || result === 'store-failed') return;
    const key = sourceKey(source);
    const before = this.entries.get(key) ?? {
      kind: source.kind,
      connected: true,
      events: 0,
      since: this.now(),
    };
    this.entries.set(key, { ...before, events: before.events + 1, lastEventAt: this.now() });
  }

  /** The trigger no longer runs here: its entry and series go. */
  forget(source: ResolvedSource): void {
    this.entries.delete(sourceKey(source));
    const labels = this.labels(source);
    this.connected.remove(labels);
    this.backlog.remove(labels);
  }

  /** One trigger's entry, by `namespace/function/trigger`; undefined when it does not run here. */
  of(key: string): SourceHealthReport | undefined {
    return this.entries.get(key);
  }

  /** Every trigger run here, by `namespace/function/trigger`. */
  snapshot(): Record<string, SourceHealthReport> {
    return Object.fromEntries(this.entries);
  }

  private labels(source: ResolvedSource): Record<Labels, string> {
    return {
      namespace: source.namespace,
      function: source.function,
      trigger: source.name,
      kind: source.kind,
    };
  }
}
