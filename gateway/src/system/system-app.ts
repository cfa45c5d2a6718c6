import { type FunctionResource, type Logger, functionKey } from '@nimbus/api';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CallAdmin } from '../async/call-admin.js';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { checkScope } from '../auth/require-scope.js';
import { Problem, problemOf, problems, sendProblem } from '../http/problems.js';
export type { SystemInfo } from '../ports.js';
import { isDeployment } from '../openfaas/function-deployment.js';
import { functionStatus } from '../openfaas/function-status.js';
import {
  deployOpenFaas,
  gatewayInfo,
  mountOpenFaasReads,
  mountOpenFaasWrites,
} from '../openfaas/openfaas-routes.js';
import type { FunctionDirectory, FunctionLogs, SystemInfo } from '../ports.js';
import type { FunctionStats } from '../stats/function-stats.js';
import { mountStatsRoutes } from '../ui/stats-routes.js';
import { mountCallRoutes } from './call-routes.js';
import { functionToCreate, functionToReplace, targetOf } from './function-body.js';
import { mountLogRoutes } from './log-routes.js';
import { namespaceReader } from './namespaces.js';

export interface SystemAppDeps {
  keys: ApiKeyVerifier;
  directory: FunctionDirectory;
  info: SystemInfo;
  defaultNamespace: string;
  /** What OpenFaaS's `openfaas-fn` is read as. */
  openfaasNamespace: string;
  /** Calls to a function (by key) answered through this gateway: OpenFaaS's invocation count. */
  invocations(key: string): number;
  log?: Logger;
  calls?: CallAdmin;
  /** Functions' log lines, for GET /system/logs; without it the route is not there. */
  logs?: FunctionLogs;
  /** The dashboard's history and live view (/system/stats); without it the routes are not there. */
  stats?: { stats: FunctionStats; tracingUiUrl: string | undefined };
}

/** The API server refuses requests over 3 MiB; a Function is at most that. */
const MAX_FUNCTION_BYTES = 3 * 1024 * 1024;

/**
 * `/system/*`: the management API. Every route needs a key with the admin scope (a bearer
 * token, or the password of HTTP Basic). OpenFaaS's gateway API shares the routes, so faas-cli
 * works against it unchanged (openfaas/openfaas-routes.ts).
 */
export function createSystemApp(deps: SystemAppDeps): express.Express {
  const { keys, directory, info, defaultNamespace, log, calls } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const writable = directory.create !== undefined;
  // Any content type is read as JSON, so `curl -d @fn.json` works without a header.
  const jsonBody = express.json({ limit: MAX_FUNCTION_BYTES, strict: true, type: () => true });
  const namespaces = namespaceReader(defaultNamespace, deps.openfaasNamespace);
  const withStatus = (fn: FunctionResource) => ({
    ...fn,
    ...functionStatus(fn, deps.invocations(functionKey(fn.metadata.namespace, fn.metadata.name))),
  });

  app.use((req: Request, res: Response, next: NextFunction) => {
    const denied = checkScope(keys, req.headers.authorization, 'admin');
    if (denied === undefined) next();
    else sendProblem(res, denied);
  });

  app.get('/system/info', (_req, res) => {
    res.json({ ...gatewayInfo(info), mode: info.mode });
  });

  // Each entry is the Function resource with OpenFaaS's function status beside it: their fields
  // do not overlap, so kubectl-style clients and faas-cli list read the same answer.
  app.get('/system/functions', (req, res) => {
    const namespace = namespaces.optional(req.query.namespace);
    res.json(
      directory
        .list()
        .filter((fn) => namespace === undefined || fn.metadata.namespace === namespace)
        .map(withStatus),
    );
  });

  app.get('/system/functions/:name', (req, res) => {
    const namespace = namespaces.optional(req.query.namespace) ?? defaultNamespace;
    const name = req.params.name as string;
    const fn = directory.get(namespace, name);
    if (fn === undefined) sendProblem(res, problems.functionNotFound(name, namespace));
    else res.json(withStatus(fn));
  });

  mountOpenFaasReads(app, { directory, namespaces, withStatus });

  if (writable) {
    const writes = directory as Required<Pick<FunctionDirectory, 'create' | 'replace' | 'remove'>>;
    app.post('/system/functions', requireBody, jsonBody, async (req, res) => {
      // faas-cli deploy sends OpenFaaS's deployment; anyone else, a Function resource.
      if (isDeployment(req.body)) {
        await deployOpenFaas(writes, directory, namespaces, req.body, req.query.namespace, 'create');
        res.status(202).end();
        return;
      }
      const fn = functionToCreate(req.body, req.query.namespace, defaultNamespace);
      const created = await writes.create(fn);
      const { name, namespace } = created.metadata;
      res.status(201).location(`/system/functions/${name}?namespace=${namespace}`).json(created);
    });

    app.put('/system/functions/:name', requireBody, jsonBody, async (req, res) => {
      const fn = functionToReplace(
        req.body,
        req.params.name as string,
        req.query.namespace,
        defaultNamespace,
      );
      const { name, namespace } = fn.metadata;
      res.json(await writes.replace(namespace, name, fn));
    });

    app.delete('/system/functions/:name', async (req, res) => {
      const { name, namespace } = targetOf(req.params.name as string, req.query.namespace, defaultNamespace);
      await writes.remove(namespace, name);
      // Accepted, not done: the Function goes once its finalizers (the controller's clean-up) finish.
      res.status(202).end();
    });

    mountOpenFaasWrites(app, { writes, directory, namespaces, jsonBody, requireBody });
  }

  app.all('/system/functions', (_req, res) => {
    const allow = writable ? 'GET, POST, PUT, DELETE' : 'GET';
    sendProblem(res, problems.methodNotAllowed(readOnly(directory, writable), allow));
  });
  app.all('/system/functions/:name', (_req, res) => {
    const allow = writable ? 'GET, PUT, DELETE' : 'GET';
    sendProblem(res, problems.methodNotAllowed(readOnly(directory, writable), allow));
  });
  app.all('/system/scale-function/:name', (_req, res) => {
    sendProblem(res, problems.methodNotAllowed(readOnly(directory, writable), writable ? 'POST' : ''));
  });

  if (calls !== undefined) mountCallRoutes(app, calls);
  if (deps.logs !== undefined) mountLogRoutes(app, { logs: deps.logs, directory, namespaces });
  if (deps.stats !== undefined)
    mountStatsRoutes(app, { ...deps.stats, directory, namespaces, defaultNamespace });

  app.use((req: Request, res: Response) => {
    sendProblem(res, problems.routeNotFound(req.path));
  });

  // Express needs all four parameters to know this is the error handler.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const problem = bodyParserProblem(err) ?? problemOf(err);
    if (problem.status >= 500) {
      log?.error('management request failed', {
        method: req.method,
        path: req.path,
        err: problem.cause ?? err,
      });
    }
    sendProblem(res, problem);
  });

  return app;
}

/** body-parser reads an empty body as `{}`; here that is a request without a Function. */
export function requireBody(req: Request, _res: Response, next: NextFunction): void {
  const length = req.headers['content-length'];
  const empty = length === undefined ? req.headers['transfer-encoding'] === undefined : Number(length) === 0;
  next(empty ? problems.malformedRequest('the body must be a JSON object: a Function resource') : undefined);
}

function readOnly(directory: FunctionDirectory, writable: boolean): string {
  if (writable) return 'use GET, POST, PUT or DELETE';
  return directory.readOnlyReason ?? 'this gateway cannot change Functions';
}

/** Express's and body-parser's refusals (malformed JSON, too large, a bad URL) carry a 4xx `status`. */
function bodyParserProblem(err: unknown): Problem | undefined {
  if (err instanceof Problem || typeof err !== 'object' || err === null) return undefined;
  const { status, type } = err as { status?: unknown; type?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (status === 413) return problems.bodyTooLarge(MAX_FUNCTION_BYTES);
  const message = (err as Error).message;
  return problems.malformedRequest(
    type === 'entity.parse.failed' ? `the body is not JSON: ${message}` : message,
  );
}
