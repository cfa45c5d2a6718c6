import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, isFunctionName, isNamespace } from '@nimbus/api';
import { BUCKET_COUNT } from '@nimbus/api/latency-histogram';
import { VERSION_NAME, type VersionOutcomes } from '@nimbus/api/traffic';
import { splitVersionRoute } from '@nimbus/api/versions';
import { BodyTooLargeError, authorised, readJson, replyJson as reply } from './peer-http.js';
import {
  type ConcurrencyReport,
  type FunctionLoad,
  type Reports,
  concurrencySample,
  freshReports,
  withReport,
} from './reports.js';

import { changedFunctions, combinedHealth, parseSourceHealth } from '../sources/source-reports.js';
import type { TriggerHealthSeen } from '../sources/trigger-status.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_REPORTER_LENGTH = 253;
/** Versions one report may name outcomes for: far above any cluster's, far below what would cost. */
export const MAX_OUTCOME_KEYS = 5000;

/** Why a report body was refused, naming the field. */
export class ReportError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ReportError';
  }
}

/** Checks a report body (untrusted JSON) and returns it typed, or throws ReportError naming the field. Pure. */
export function parseReport(body: unknown, at: number): ConcurrencyReport {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ReportError('body', 'must be a JSON object');
  const { reporter, functions, sources, outcomes } = body as Record<string, unknown>;
  if (typeof reporter !== 'string' || reporter === '' || reporter.length > MAX_REPORTER_LENGTH) {
    throw new ReportError('reporter', `must be a name of 1 to ${MAX_REPORTER_LENGTH} characters`);
  }
  if (typeof functions !== 'object' || functions === null || Array.isArray(functions)) {
    throw new ReportError('functions', 'must be an object keyed by namespace/name');
  }
  const parsed: Record<string, FunctionLoad> = {};
  for (const [key, value] of Object.entries(functions)) {
    const counts = (value ?? {}) as Record<string, unknown>;
    const field = (name: string) => `functions["${key}"].${name}`;
    for (const name of ['inflight', 'held'] as const) {
      const n = counts[name];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
        throw new ReportError(field(name), 'must be a whole number, 0 or more');
      }
    }
    const load: { -readonly [K in keyof FunctionLoad]: FunctionLoad[K] } = {
      inflight: counts.inflight as number,
      held: counts.held as number,
    };
    // A gateway from before time-weighted reports sends only the two counts above.
    for (const name of ['average', 'requests', 'idleMs'] as const) {
      const n = counts[name];
      if (n === undefined) continue;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
        throw new ReportError(field(name), 'must be a number, 0 or more');
      }
      if (name !== 'average' && !Number.isInteger(n)) {
        throw new ReportError(field(name), 'must be a whole number, 0 or more');
      }
      load[name] = n;
    }
    parsed[key] = load;
  }
  let health: ReturnType<typeof parseSourceHealth>;
  try {
    health = parseSourceHealth(sources);
  } catch (err) {
    const [field = 'sources', ...rest] = (err as Error).message.split(': ');
    throw new ReportError(field, rest.join(': '));
  }
  const versions = parseOutcomes(outcomes);
  return {
    reporter,
    at,
    functions: parsed,
    ...(Object.keys(health).length === 0 ? {} : { sources: health }),
    ...(versions === undefined ? {} : { outcomes: versions }),
  };
}

/** Whether `key` is a version's route key, `namespace/function@vN`. Pure. */
export function isVersionKey(key: string): boolean {
  const [namespace = '', name = '', ...rest] = key.split('/');
  const route = splitVersionRoute(name);
  return (
    rest.length === 0 &&
    isNamespace(namespace) &&
    route !== undefined &&
    isFunctionName(route.functionName) &&
    VERSION_NAME.test(route.version)
  );
}

/**
 * A report's `outcomes` (absent from gateways before versions): counts that could not be true
 * (negative, fractional, more errors than requests, more latencies than requests, a bucket that
 * does not exist) refuse the report, as a bad concurrency count does, since they would pass or
 * fail a rollout on made-up numbers. A key that names no version's route is dropped: no rollout
 * can read it, and the report's concurrency is still good. Pure; throws ReportError.
 */
function parseOutcomes(outcomes: unknown): Record<string, VersionOutcomes> | undefined {
  if (outcomes === undefined) return undefined;
  if (typeof outcomes !== 'object' || outcomes === null || Array.isArray(outcomes))
    throw new ReportError('outcomes', 'must be an object keyed by namespace/function@version');
  const entries = Object.entries(outcomes);
  if (entries.length > MAX_OUTCOME_KEYS)
    throw new ReportError('outcomes', `names ${entries.length} versions; at most ${MAX_OUTCOME_KEYS}`);
  const parsed: Record<string, VersionOutcomes> = {};
  for (const [key, value] of entries) {
    if (!isVersionKey(key)) continue;
    const field = (name: string) => `outcomes["${key}"]${name}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ReportError(field(''), 'must be an object of requests, errors and latency');
    const { requests, errors, latency = {} } = value as Record<string, unknown>;
    const count = (n: unknown, name: string): number => {
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
        throw new ReportError(field(name), 'must be a whole number, 0 or more');
      return n;
    };
    const r = count(requests, '.requests');
    const e = count(errors, '.errors');
    if (e > r) throw new ReportError(field('.errors'), `is ${e}, more than the ${r} requests`);
    if (typeof latency !== 'object' || latency === null || Array.isArray(latency))
      throw new ReportError(field('.latency'), 'must be an object of bucket index to count');
    const buckets = Object.entries(latency);
    if (buckets.length > BUCKET_COUNT)
      throw new ReportError(field('.latency'), `has ${buckets.length} buckets; there are ${BUCKET_COUNT}`);
    let recorded = 0;
    const sparse: Record<string, number> = {};
    for (const [bucket, n] of buckets) {
      const index = /^(0|[1-9][0-9]*)$/.test(bucket) ? Number(bucket) : -1;
      if (index < 0 || index >= BUCKET_COUNT)
        throw new ReportError(field('.latency'), `bucket "${bucket}" is not 0 to ${BUCKET_COUNT - 1}`);
      recorded += count(n, `.latency["${bucket}"]`);
      sparse[index] = n as number;
    }
    if (recorded > r)
      throw new ReportError(field('.latency'), `counts ${recorded} latencies, more than the ${r} requests`);
    parsed[key] = { requests: r, errors: e, latency: sparse };
  }
  return parsed;
}

/**
 * The controller's end of the gateways' concurrency reports: `POST /v1/reports` keeps the latest
 * report of each gateway, stamped with this process's clock; `GET /v1/concurrency` shows the
 * sums the autoscaler would see. Every controller replica keeps them, leader or not. Both ask for
 * the report token: a forged report could scale any function to its maximum.
 */
export class ReportEndpoint {
  private reports: Reports = new Map();
  private sourcesChanged: (functionKeys: string[]) => void = () => {};
  private outcomesReceived: (outcomes: Readonly<Record<string, VersionOutcomes>>) => void = () => {};

  constructor(
    private readonly clock: Clock,
    private readonly token: string,
  ) {}

  /** The concurrency of one function summed over the gateways that reported lately; undefined with no data. */
  sample(key: string) {
    return concurrencySample(this.reports, key, this.clock.now());
  }

  /** One source trigger's health over the gateways that reported on it lately; undefined with none. */
  sourceHealth(key: string): TriggerHealthSeen | undefined {
    const now = this.clock.now();
    const seen: TriggerHealthSeen[] = [];
    for (const report of freshReports(this.reports, now).values()) {
      const h = report.sources?.[key];
      if (h !== undefined) seen.push(h);
    }
    return combinedHealth(seen);
  }

  /** Told the Functions whose triggers came up, went down or failed differently, as reports arrive. */
  onSourcesChanged(listener: (functionKeys: string[]) => void): void {
    this.sourcesChanged = listener;
  }

  /**
   * Told each report's version outcomes once, as it arrives: they are deltas since that gateway's
   * previous report, so the listener (the rollout driver) adds them up itself.
   */
  onOutcomes(listener: (outcomes: Readonly<Record<string, VersionOutcomes>>) => void): void {
    this.outcomesReceived = listener;
  }

  /** Handles the request when it is one of its routes; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path === '/v1/reports') {
      if (req.method !== 'POST')
        reply(res, 405, { error: 'MethodNotAllowed', message: 'POST a report here' });
      else if (authorised(req, res, this.token, 'a report')) this.receive(req, res);
      return true;
    }
    if (path === '/v1/concurrency' && req.method === 'GET') {
      // What each function is asked for tells which functions exist and how busy they are.
      if (!authorised(req, res, this.token, 'the concurrency view')) return true;
      const now = this.clock.now();
      const fresh = freshReports(this.reports, now);
      const keys = new Set([...fresh.values()].flatMap((r) => Object.keys(r.functions)));
      const functions: Record<string, number> = {};
      for (const key of keys) functions[key] = this.sample(key)?.concurrency ?? 0;
      reply(res, 200, { reporters: [...fresh.keys()].sort(), functions });
      return true;
    }
    return false;
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    readJson(req, MAX_BODY_BYTES).then(
      (body) => {
        try {
          const report = parseReport(body, this.clock.now());
          const keys = new Set([
            ...Object.keys(report.sources ?? {}),
            ...Object.keys(this.reports.get(report.reporter)?.sources ?? {}),
          ]);
          const before = new Map([...keys].map((k) => [k, this.sourceHealth(k)]));
          // Outcomes are deltas, handed on below once; the kept report holds none to be read twice.
          const { outcomes, ...kept } = report;
          this.reports = withReport(freshReports(this.reports, report.at), kept);
          if (keys.size > 0) {
            const changed = changedFunctions(
              (k) => before.get(k),
              (k) => this.sourceHealth(k),
              keys,
            );
            if (changed.length > 0) this.sourcesChanged(changed);
          }
          if (outcomes !== undefined && Object.keys(outcomes).length > 0) this.outcomesReceived(outcomes);
          res.writeHead(204).end();
        } catch (err) {
          const { field, message } = err as ReportError;
          reply(res, 400, { error: 'InvalidReport', message, field });
        }
      },
      (err: Error) => {
        if (err instanceof BodyTooLargeError)
          reply(res, 413, { error: 'BodyTooLarge', message: err.message });
        else reply(res, 400, { error: 'InvalidReport', message: `not JSON: ${err.message}`, field: 'body' });
      },
    );
  }
}
