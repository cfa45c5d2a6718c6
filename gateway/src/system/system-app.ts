import type { FunctionResource } from '@nimbus/api';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { checkScope } from '../auth/require-scope.js';
import { Problem, problems, sendProblem } from '../http/problems.js';

/** Where the management API reads Functions from: the cluster, or local mode's folder. */
export interface FunctionDirectory {
  list(): FunctionResource[];
  get(namespace: string, name: string): FunctionResource | undefined;
  /** Set when Functions cannot be changed through the API, saying where to change them. */
  readonly readOnlyReason?: string;
}

export interface SystemInfo {
  version: string;
  mode: 'local' | 'kubernetes';
}

/** `/system/*`: the management API. Every route needs a key with the admin scope. */
export function createSystemApp(
  keys: ApiKeyVerifier,
  directory: FunctionDirectory,
  info: SystemInfo,
  defaultNamespace: string,
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const denied = checkScope(keys, req.headers.authorization, 'admin');
    if (denied === undefined) next();
    else sendProblem(res, denied);
  });

  app.get('/system/info', (_req, res) => {
    res.json(info);
  });

  app.get('/system/functions', (req, res) => {
    const namespace = typeof req.query.namespace === 'string' ? req.query.namespace : undefined;
    res.json(directory.list().filter((fn) => namespace === undefined || fn.metadata.namespace === namespace));
  });

  app.get('/system/functions/:name', (req, res) => {
    const namespace = typeof req.query.namespace === 'string' ? req.query.namespace : defaultNamespace;
    const name = req.params.name as string;
    const fn = directory.get(namespace, name);
    if (fn === undefined) sendProblem(res, problems.functionNotFound(name, namespace));
    else res.json(fn);
  });

  app.all(['/system/functions', '/system/functions/:name'], (_req, res) => {
    const why = directory.readOnlyReason ?? 'this gateway cannot change Functions';
    sendProblem(res, new Problem(405, 'MethodNotAllowed', why, { allow: 'GET' }));
  });

  app.use((req: Request, res: Response) => {
    sendProblem(res, problems.routeNotFound(req.path));
  });

  // Express needs all four parameters to know this is the error handler.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendProblem(res, problems.malformedRequest((err as Error).message));
    } else {
      sendProblem(res, err);
    }
  });

  return app;
}
