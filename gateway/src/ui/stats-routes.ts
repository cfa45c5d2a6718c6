import { functionKey, isFunctionName } from '@nimbus/api';
import type express from 'express';
import { Problem, problems } from '../http/problems.js';
import type { FunctionDirectory } from '../ports.js';
import type { FunctionStats } from '../stats/function-stats.js';
import type { NamespaceReader } from '../system/namespaces.js';

export interface StatsRouteDeps {
  stats: FunctionStats;
  directory: FunctionDirectory;
  namespaces: NamespaceReader;
  defaultNamespace: string;
  tracingUiUrl: string | undefined;
}

/**
 * The dashboard's JSON beside the Prometheus text, under `/system` (admin scope, checked by the
 * system app):
 *   GET /system/stats                       every function's replicas, load, readiness reason and
 *                                           recent 5xx answers now; the history's settings; the
 *                                           tracing UI's link template
 *   GET /system/functions/{name}/history    its plots: a column per series (stats/history-point.ts)
 */
export function mountStatsRoutes(app: express.Express, deps: StatsRouteDeps): void {
  const { stats } = deps;
  app.get('/system/stats', (_req, res) => {
    res.json({
      intervalMs: stats.config.intervalMs,
      points: stats.config.points,
      maxFunctions: stats.config.maxFunctions,
      ...(deps.tracingUiUrl === undefined ? {} : { tracingUiUrl: deps.tracingUiUrl }),
      functions: stats.live().map((fn) => ({ ...fn, url: invokePath(fn, deps.defaultNamespace) })),
    });
  });

  app.get('/system/functions/:name/history', (req, res) => {
    const name = req.params.name as string;
    if (!isFunctionName(name)) throw problems.invalidFunctionName(name);
    const namespace = deps.namespaces.orDefault(req.query.namespace);
    if (deps.directory.get(namespace, name) === undefined) throw problems.functionNotFound(name, namespace);
    const columns = stats.history(functionKey(namespace, name));
    if (columns === undefined)
      throw new Problem(
        404,
        'NoHistory',
        `${namespace}/${name} has no history yet: it is sampled every ${stats.config.intervalMs} ms, for at most ${stats.config.maxFunctions} functions`,
      );
    res.json({ namespace, name, intervalMs: stats.config.intervalMs, ...columns });
  });
}

/** Where the function is called: `/function/name`, with `.namespace` outside the default one. */
function invokePath(fn: { name: string; namespace: string }, defaultNamespace: string): string {
  return `/function/${fn.name}${fn.namespace === defaultNamespace ? '' : `.${fn.namespace}`}`;
}
