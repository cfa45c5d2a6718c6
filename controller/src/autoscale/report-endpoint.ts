import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '@nimbus/api';
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
  const { reporter, functions, sources } = body as Record<string, unknown>;
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
  return Object.keys(health).length === 0
    ? { reporter, at, functions: parsed }
    : { reporter, at, functions: parsed, sources: health };
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
          this.reports = withReport(freshReports(this.reports, report.at), report);
          if (keys.size > 0) {
            const changed = changedFunctions(
              (k) => before.get(k),
              (k) => this.sourceHealth(k),
              keys,
            );
            if (changed.length > 0) this.sourcesChanged(changed);
          }
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
