import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionResource, Logger } from '@nimbus/api';
import { type StateLimits, type StateStore, stateErrorStatus } from '@nimbus/store';
import { Counter, type Registry } from 'prom-client';
import type { EventsEndpoint } from '../events/events-endpoint.js';
import { type FunctionDirectory, declaredFunction } from '../ports.js';
import { Refusal, callingFunction, readJsonObject, sendJson as send } from './internal-http.js';
import { type StateOperationName, isStateOperation, runStateOperation } from './state-request.js';
import type { StateServiceConfig } from './state-service-config.js';

/** Room in a request body beside the value: the key (512 bytes, escaped at worst 6 to a byte) and the rest. */
const BODY_OVERHEAD_BYTES = 512 * 6 + 1024;

/**
 * ctx.state for function pods: the only way a function reaches its state in a cluster. Pods hold
 * no Redis credentials; each sends its function's name and token (an HMAC under the state key,
 * checked here without asking anyone), and may run only Nimbus's fixed operations on that
 * function's key space. The store enforces the value size and the function's quotas on the Redis
 * side, atomically, with scripts of its own. It listens on a port apart from the public one,
 * which the chart's Service exposes inside the cluster only.
 *
 *   POST /v1/state/{get|set|delete|incr|compareAndSet}
 *   Authorization: Bearer <token>   X-Nimbus-Function: <namespace>/<name>
 *   {"key": "...", "value": ..., "ttlMs": 1000, "by": 1, "expectedVersion": "..."}
 *   200 {"result": ...}, or {"error": message, "code": the store error's name, "limit"?: n}
 *
 * The same port and tokens serve ctx.publish (`/v1/events/...`, events/events-endpoint.ts).
 */
export class StateService {
  private server: Server | undefined;
  private bound: AddressInfo | undefined;
  private readonly requests: Counter<'op' | 'code'>;

  constructor(
    private readonly config: StateServiceConfig,
    private readonly store: StateStore,
    private readonly directory: FunctionDirectory,
    private readonly limits: StateLimits,
    private readonly log: Logger,
    registry: Registry,
    /** POST /v1/events/publish (ctx.publish) on the same port, with the same tokens. */
    private readonly events?: EventsEndpoint,
  ) {
    this.requests = new Counter({
      name: 'nimbus_state_requests_total',
      help: "State service calls by operation and outcome: ok, or the refusal's code (quota, size, token, store full).",
      labelNames: ['op', 'code'],
      registers: [registry],
    });
  }

  async listen(): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    // Runtimes keep connections open between calls and let idle ones go after 30 s: the server
    // waits longer, so it never closes one a runtime is about to reuse (a spurious 503).
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.bound = server.address() as AddressInfo;
    this.log.info('state service listening', { address: this.bound.address, port: this.bound.port });
    return this.bound;
  }

  /** Where it listens, once it does. */
  address(): AddressInfo | undefined {
    return this.bound;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.events !== undefined && req.url?.startsWith('/v1/events/') === true) {
      await this.events.handle(req, res, this.config.key);
      return;
    }
    let op = 'unknown';
    try {
      const who = this.authorise(req, (known) => {
        op = known;
      });
      const limits = { ...this.limits, ...functionLimits(who.fn) };
      const body = await readJsonObject(
        req,
        limits.maxValueBytes + BODY_OVERHEAD_BYTES,
        tooLarge(limits.maxValueBytes),
      );
      const result = await runStateOperation(
        this.store.scoped(who.namespace, who.name, limits),
        who.op,
        body,
      );
      send(res, 200, result === undefined ? {} : { result });
      this.requests.inc({ op, code: 'ok' });
    } catch (err) {
      if (err instanceof Refusal) {
        send(res, err.status, { error: err.message, code: err.code, ...err.extra });
        this.requests.inc({ op, code: err.code });
        return;
      }
      const name = err instanceof Error ? err.name : 'Error';
      this.requests.inc({ op, code: name });
      const status = stateErrorStatus(name);
      if (status >= 500 && status !== 507) this.log.warn('state service: the store failed', { err });
      const limit = (err as { limit?: unknown }).limit;
      send(res, status, {
        error: status === 500 ? 'function state failed in the gateway; see its log' : (err as Error).message,
        code: name,
        ...(typeof limit === 'number' ? { limit } : {}),
      });
    }
  }

  /** Who is asking, proven by the token; the function must exist and have state enabled. */
  private authorise(
    req: IncomingMessage,
    named: (op: StateOperationName) => void,
  ): {
    op: StateOperationName;
    namespace: string;
    name: string;
    fn: FunctionResource;
  } {
    const url = new URL(req.url ?? '/', 'http://state');
    const match = /^\/v1\/state\/([A-Za-z]+)$/.exec(url.pathname);
    if (match === null || !isStateOperation(match[1] as string))
      throw new Refusal(
        404,
        'NotFound',
        'state operations are POST /v1/state/{get|set|delete|incr|compareAndSet}',
      );
    named(match[1] as StateOperationName);
    if (req.method !== 'POST') throw new Refusal(405, 'MethodNotAllowed', 'state operations take POST');
    const { namespace, name } = callingFunction(req, this.config.key);
    const fn = declaredFunction(this.directory, namespace, name);
    if (fn?.spec.state?.enabled !== true)
      throw new Refusal(
        403,
        'StateNotEnabledError',
        `function state is not enabled for ${namespace}/${name}`,
      );
    return { op: match[1] as StateOperationName, namespace, name, fn };
  }
}

/** A Function's own quota, where its spec sets one (spec.state.maxKeys, maxBytes). */
function functionLimits(fn: FunctionResource): Partial<StateLimits> {
  const limits: Partial<StateLimits> = {};
  if (fn.spec.state?.maxKeys !== undefined) limits.maxKeys = fn.spec.state.maxKeys;
  if (fn.spec.state?.maxBytes !== undefined) limits.maxBytes = fn.spec.state.maxBytes;
  return limits;
}

function tooLarge(maxValueBytes: number): (size: string) => Refusal {
  return (size) =>
    new Refusal(
      413,
      'StateValueTooLargeError',
      `the state value is too large: the request is ${size} bytes, the value limit is ${maxValueBytes} bytes`,
      { limit: maxValueBytes },
    );
}
