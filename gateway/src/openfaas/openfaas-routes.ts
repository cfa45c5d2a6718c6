import { type FunctionResource, isFunctionName } from '@nimbus/api';
import type express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { problems } from '../http/problems.js';
import type { FunctionDirectory, SystemInfo } from '../ports.js';
import type { NamespaceReader } from '../system/namespaces.js';
import { functionFromDeployment } from './function-deployment.js';
import type { GatewayInfo } from './openfaas-types.js';

/**
 * The parts of OpenFaaS's gateway API that Nimbus's own does not already serve, as faas-cli
 * calls them: describe (`GET /system/function/{name}`), update (`PUT /system/functions`),
 * remove (`DELETE /system/functions` with a body), `POST /system/scale-function/{name}` and
 * `GET /system/namespaces`. The rest share Nimbus's routes (system-app.ts). Every answer is one
 * faas-cli takes as success: 202 for writes, never 201 or 204.
 */

type Writes = Required<Pick<FunctionDirectory, 'create' | 'replace' | 'remove'>>;
type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/** `GET /system/info` as OpenFaaS answers it: faas-cli version reads provider, its version, and version. */
export function gatewayInfo(info: SystemInfo): GatewayInfo {
  const version = { sha: process.env.NIMBUS_BUILD_SHA ?? '', release: info.version };
  return {
    provider: { provider: 'nimbus', orchestration: info.mode, version },
    version,
    arch: process.arch === 'x64' ? 'x86_64' : process.arch,
  };
}

export function mountOpenFaasReads(
  app: express.Express,
  deps: {
    directory: FunctionDirectory;
    namespaces: NamespaceReader;
    withStatus(fn: FunctionResource): unknown;
  },
): void {
  const { directory, namespaces } = deps;

  // faas-cli describe; it always adds ?usage=1, which asks for CPU and memory Nimbus does not keep.
  app.get('/system/function/:name', (req, res) => {
    const name = req.params.name as string;
    if (!isFunctionName(name)) throw problems.invalidFunctionName(name);
    const namespace = namespaces.orDefault(req.query.namespace);
    const fn = directory.get(namespace, name);
    if (fn === undefined) throw problems.functionNotFound(name, namespace);
    res.json(deps.withStatus(fn));
  });

  app.get('/system/namespaces', (_req, res) => {
    const seen = new Set([
      namespaces.orDefault(undefined),
      ...directory.list().map((fn) => fn.metadata.namespace),
    ]);
    res.json([...seen].sort());
  });
}

export function mountOpenFaasWrites(
  app: express.Express,
  deps: {
    writes: Writes;
    directory: FunctionDirectory;
    namespaces: NamespaceReader;
    jsonBody: Middleware;
    requireBody: Middleware;
  },
): void {
  const { writes, directory, namespaces, jsonBody, requireBody } = deps;

  // faas-cli deploy tries PUT first and creates with POST only when this answers 404.
  app.put('/system/functions', requireBody, jsonBody, async (req, res) => {
    await deployOpenFaas(writes, directory, namespaces, req.body, req.query.namespace, 'update');
    res.status(202).end();
  });

  app.delete('/system/functions', requireBody, jsonBody, async (req, res) => {
    const body = req.body as { functionName?: unknown; namespace?: unknown };
    const name = body.functionName;
    if (typeof name !== 'string' || !isFunctionName(name)) {
      throw problems.invalidFunction([{ field: 'functionName', message: 'must name a function' }]);
    }
    const namespace = namespaces.orDefault(body.namespace ?? req.query.namespace);
    if (directory.get(namespace, name) === undefined) throw problems.functionNotFound(name, namespace);
    await writes.remove(namespace, name);
    res.status(202).end();
  });

  // Nimbus scales by demand; a replica count asked for becomes the floor the autoscaler keeps.
  app.post('/system/scale-function/:name', requireBody, jsonBody, async (req, res) => {
    const name = req.params.name as string;
    if (!isFunctionName(name)) throw problems.invalidFunctionName(name);
    const body = req.body as { replicas?: unknown; namespace?: unknown };
    const replicas = body.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 1000) {
      throw problems.invalidFunction([
        { field: 'replicas', message: 'must be a whole number from 0 to 1000' },
      ]);
    }
    const namespace = namespaces.orDefault(body.namespace ?? req.query.namespace);
    if (directory.get(namespace, name) === undefined) throw problems.functionNotFound(name, namespace);
    await modify(writes, directory, namespace, name, (fn) => ({
      ...fn,
      spec: {
        ...fn.spec,
        scale: { ...fn.spec.scale, min: replicas, max: Math.max(fn.spec.scale.max, replicas, 1) },
      },
    }));
    res.status(202).end();
  });
}

/**
 * faas-cli deploy's request, made a Function: created (POST), or replacing the one there (PUT,
 * which answers 404 when there is none, so faas-cli creates it instead). The namespace is the
 * body's, else `?namespace=`, else the default.
 */
export async function deployOpenFaas(
  writes: Writes,
  directory: FunctionDirectory,
  namespaces: NamespaceReader,
  body: unknown,
  rawNamespace: unknown,
  mode: 'create' | 'update',
): Promise<void> {
  const given = (body as { namespace?: unknown } | undefined)?.namespace;
  const namespace = namespaces.orDefault(given === undefined || given === '' ? rawNamespace : given);
  const fn = functionFromDeployment(body, namespace);
  const { name } = fn.metadata;
  if (mode === 'create') {
    await writes.create(fn);
    return;
  }
  if (directory.get(namespace, name) === undefined) throw problems.functionNotFound(name, namespace);
  // What faas-cli sends replaces the spec, labels and annotations; the rest of the object stays.
  await modify(writes, directory, namespace, name, (current) => ({
    ...current,
    metadata: {
      ...current.metadata,
      labels: fn.metadata.labels ?? {},
      annotations: fn.metadata.annotations ?? {},
    },
    spec: fn.spec,
  }));
}

/** A read-modify-write of one Function, with the directory's own when it has one. */
async function modify(
  writes: Writes,
  directory: FunctionDirectory,
  namespace: string,
  name: string,
  change: (fn: FunctionResource) => FunctionResource,
): Promise<void> {
  if (directory.modify !== undefined) {
    await directory.modify(namespace, name, change);
    return;
  }
  const current = directory.get(namespace, name);
  if (current === undefined) throw problems.functionNotFound(name, namespace);
  await writes.replace(namespace, name, change(current));
}
