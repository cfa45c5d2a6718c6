import { isFunctionName } from '@nimbus/api';
import type express from 'express';
import { Problem, problems } from '../http/problems.js';
import type { FunctionDirectory, FunctionLogs, LogQuery } from '../ports.js';
import type { NamespaceReader } from './namespaces.js';

const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const invalid = (message: string) => new Problem(400, 'InvalidRequest', message);

/** At most this many lines from before the request, whatever `tail` asks. */
export const MAX_TAIL_LINES = 10_000;

/** `?since=&tail=&follow=` checked; RFC 3339 for since, as faas-cli sends it. */
function logQuery(query: Record<string, unknown>, signal: AbortSignal): LogQuery {
  const out: LogQuery = { follow: false, signal };
  const follow = single(query.follow);
  if (follow !== undefined) {
    if (!['true', 'false', '1', '0'].includes(follow))
      throw invalid(`follow must be true or false, got "${follow.slice(0, 40)}"`);
    out.follow = follow === 'true' || follow === '1';
  }
  const tail = single(query.tail);
  // faas-cli sends tail=-1 for "all of them".
  if (tail !== undefined && tail !== '-1') {
    if (!/^\d{1,9}$/.test(tail))
      throw invalid(`tail must be a whole number (or -1 for all), got "${tail.slice(0, 40)}"`);
    out.tail = Math.min(Number(tail), MAX_TAIL_LINES);
  }
  const since = single(query.since);
  if (since !== undefined && since !== '') {
    const at = Date.parse(since);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(since) || Number.isNaN(at))
      throw invalid(
        `since must be an RFC 3339 time such as 2026-12-06T17:22:00Z, got "${since.slice(0, 40)}"`,
      );
    out.since = new Date(at);
  }
  return out;
}

/**
 * `GET /system/logs?name=&namespace=&since=&tail=&follow=`: a function's log lines as JSON lines
 * (application/x-ndjson), oldest first, one object per line as faas-cli logs reads them; with
 * follow, the stream stays open and new lines follow until the caller goes. Admin scope, checked
 * by the system app.
 */
export function mountLogRoutes(
  app: express.Express,
  deps: { logs: FunctionLogs; directory: FunctionDirectory; namespaces: NamespaceReader },
): void {
  app.get('/system/logs', async (req, res) => {
    const name = single(req.query.name);
    if (name === undefined || !isFunctionName(name))
      throw invalid('name must name a function: ?name=<function>');
    const namespace = deps.namespaces.orDefault(req.query.namespace);
    if (deps.directory.get(namespace, name) === undefined) throw problems.functionNotFound(name, namespace);
    const stop = new AbortController();
    const query = logQuery(req.query as Record<string, unknown>, stop.signal);
    res.on('close', () => stop.abort());
    const lines = await deps.logs.open(namespace, name, query);
    res.status(200).setHeader('content-type', 'application/x-ndjson; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.flushHeaders();
    try {
      for await (const line of lines) {
        if (stop.signal.aborted) break;
        if (!res.write(`${JSON.stringify(line)}\n`))
          await new Promise((resolve) => res.once('drain', resolve));
      }
    } catch (err) {
      // The status is out: the reason goes as a last line of the stream's own shape, which
      // faas-cli prints like any other.
      if (!stop.signal.aborted) {
        const text = `nimbus: the log stream ended early: ${(err as Error).message ?? String(err)}`;
        const last = { name, namespace, instance: 'nimbus', timestamp: new Date().toISOString(), text };
        res.write(`${JSON.stringify(last)}\n`);
      }
    }
    res.end();
  });
}
