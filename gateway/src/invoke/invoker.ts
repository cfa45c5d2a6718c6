import { randomUUID } from 'node:crypto';
import {
  Agent,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
  request,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '@nimbus/api';
import { inject, injectable } from 'tsyringe';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { checkScope } from '../auth/require-scope.js';
import type { GatewayConfig } from '../config.js';
import { callIdFrom, endToEndHeaders } from '../http/headers.js';
import { type Problem, problems, sendProblem } from '../http/problems.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { pickEndpoint } from '../routing/balancer.js';
import type { Endpoint, FunctionRoute, RouteTable } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';
import { parseInvokePath } from './function-path.js';

/**
 * Errors of a connection that was never established: the replica never saw the request, so
 * another replica may take it. Once connected, a failure may mean the replica ran the call,
 * and it is not repeated.
 */
const NEVER_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'ECONNRESET',
]);
const MAX_ATTEMPTS = 3;

/** Serves `ANY /function/{name}[.{namespace}][/rest]`: the synchronous invoke path. */
@injectable()
export class Invoker {
  private readonly agent: Agent;
  private readonly deps: ExchangeDeps;

  constructor(
    @inject(TOKENS.Config) private readonly config: GatewayConfig,
    @inject(TOKENS.RouteTable) private readonly routes: RouteTable,
    @inject(TOKENS.ApiKeys) private readonly keys: ApiKeyVerifier,
    @inject(TOKENS.Metrics) private readonly metrics: GatewayMetrics,
    @inject(TOKENS.Logger) private readonly log: Logger,
  ) {
    // LIFO reuse keeps a few warm sockets busy instead of cycling through all of them.
    this.agent = new Agent({ keepAlive: true, maxSockets: config.upstreamMaxSockets, scheduling: 'lifo' });
    let turn = 0;
    this.deps = {
      agent: this.agent,
      config,
      log,
      pick: (route, exclude) => {
        turn = (turn + 1) % 1_000_000;
        return pickEndpoint(route.endpoints, turn, exclude);
      },
      record: (fn, code, started) => metrics.record(fn, code, (performance.now() - started) / 1000),
    };
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const admitted = this.admit(req, res);
    if (admitted instanceof Refused) {
      sendProblem(res, admitted.error);
      this.metrics.record(admitted.fn, admitted.error.status, (performance.now() - started) / 1000);
      return;
    }
    const { route, upstreamPath, consumedHeader } = admitted;
    const callId = callIdFrom(req.headers['x-call-id'], randomUUID);
    const headers = endToEndHeaders(req.headers, consumedHeader);
    headers['x-call-id'] = callId;
    const forwardedFor = req.headers['x-forwarded-for'];
    const peer = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
    new Exchange(this.deps, req, res, route, upstreamPath, headers, callId, started).attempt();
  }

  /** Everything that can refuse a request before it goes anywhere: name, auth, size, readiness. */
  private admit(req: IncomingMessage, res: ServerResponse): Admitted | Refused {
    const target = parseInvokePath(req.url as string, this.config.defaultNamespace);
    if ('invalid' in target) return new Refused('', problems.invalidFunctionName(target.invalid));
    const route = this.routes.get(target.namespace, target.name);
    if (route === undefined) return new Refused('', problems.functionNotFound(target.name, target.namespace));
    let consumedHeader: string | undefined;
    if (route.auth === 'key') {
      const denied = checkScope(this.keys, req.headers.authorization, 'invoke');
      if (denied !== undefined) return new Refused(route.key, denied);
      // The key was for the gateway; the function's code has no business seeing it.
      consumedHeader = 'authorization';
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.config.maxBodyBytes) {
      // Close rather than read a body we refused.
      res.setHeader('connection', 'close');
      return new Refused(route.key, problems.bodyTooLarge(this.config.maxBodyBytes));
    }
    if (route.endpoints.length === 0) {
      const reason = route.unavailableReason ?? 'no replica is ready yet';
      return new Refused(route.key, problems.unavailable(route.name, reason));
    }
    return { route, upstreamPath: target.upstreamPath, consumedHeader };
  }

  close(): void {
    this.agent.destroy();
  }
}

interface Admitted {
  route: FunctionRoute;
  upstreamPath: string;
  consumedHeader: string | undefined;
}

class Refused {
  constructor(
    readonly fn: string,
    readonly error: Problem,
  ) {}
}

/** What an exchange needs from the invoker that started it. */
interface ExchangeDeps {
  readonly agent: Agent;
  readonly config: GatewayConfig;
  readonly log: Logger;
  pick(route: FunctionRoute, exclude: ReadonlySet<Endpoint>): Endpoint | undefined;
  record(fn: string, code: number, started: number): void;
}

/** One request's trip to a replica, with its retries, timer and accounting. */
class Exchange {
  private readonly tried = new Set<Endpoint>();
  private readonly hasBody: boolean;
  private endpoint: Endpoint | undefined;
  private upstream: ReturnType<typeof request> | undefined;
  private connected = false;
  private answered = false;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private received = 0;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: FunctionRoute,
    private readonly path: string,
    private readonly headers: OutgoingHttpHeaders,
    private readonly callId: string,
    private readonly started: number,
  ) {
    const length = req.headers['content-length'];
    this.hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    route.inflight++;
    const timeoutMs = route.timeoutMs + deps.config.timeoutGraceMs;
    this.timer = setTimeout(() => this.fail(problems.timeout(route.name, timeoutMs)), timeoutMs);
    res.once('close', () => {
      if (!this.done) this.finish(499); // the caller went away: stop the replica's work too
    });
  }

  attempt(): void {
    const endpoint = this.deps.pick(this.route, this.tried);
    if (endpoint === undefined) {
      this.fail(problems.unavailable(this.route.name, 'no replica accepted the connection'));
      return;
    }
    this.endpoint = endpoint;
    this.tried.add(endpoint);
    endpoint.inflight++;
    const upstream = request({
      agent: this.deps.agent,
      host: endpoint.host,
      port: endpoint.port,
      method: this.req.method,
      path: this.path,
      headers: this.headers,
    });
    this.upstream = upstream;
    upstream.on('response', (reply) => this.relay(reply));
    upstream.on('error', (err) => this.upstreamFailed(endpoint, err));
    upstream.once('socket', (socket: Socket) => {
      if (socket.connecting) socket.once('connect', () => this.onConnected(upstream));
      else this.onConnected(upstream);
    });
    if (!this.hasBody) upstream.end();
  }

  /**
   * The body is held until the socket is connected: a refused connection has then consumed
   * nothing of it, and the request can go to another replica.
   */
  private onConnected(upstream: ReturnType<typeof request>): void {
    if (this.done || upstream !== this.upstream) return;
    this.connected = true;
    if (!this.hasBody) return;
    // Counting attaches a 'data' listener, which sets the body flowing: only once it has somewhere to go.
    if (this.req.headers['content-length'] === undefined) this.limitStreamedBody();
    this.req.pipe(upstream);
  }

  private relay(reply: IncomingMessage): void {
    if (this.done) {
      reply.resume();
      return;
    }
    this.answered = true;
    clearTimeout(this.timer);
    const headers = endToEndHeaders(reply.headers);
    headers['x-call-id'] = this.callId;
    headers['x-duration-seconds'] = ((performance.now() - this.started) / 1000).toFixed(6);
    const status = reply.statusCode ?? 502;
    this.res.writeHead(status, headers);
    reply.pipe(this.res);
    reply.once('end', () => this.finish(status));
    reply.once('error', () => this.res.destroy());
  }

  private upstreamFailed(endpoint: Endpoint, err: NodeJS.ErrnoException): void {
    if (this.done) return;
    if (this.answered) {
      // Headers are out: all that is left is to cut the response short.
      this.res.destroy();
      this.finish(502);
      return;
    }
    endpoint.inflight--;
    this.endpoint = undefined;
    const undelivered = !this.connected && err.code !== undefined && NEVER_CONNECTED.has(err.code);
    if (undelivered && this.tried.size < MAX_ATTEMPTS) {
      this.deps.log.warn('replica refused the connection; trying another', {
        function: this.route.key,
        endpoint: endpoint.id,
        code: err.code,
        callId: this.callId,
      });
      this.attempt();
      return;
    }
    this.fail(problems.badGateway(this.route.name, err));
  }

  /** A chunked body has no declared length, so it is counted as it streams. */
  private limitStreamedBody(): void {
    const limit = this.deps.config.maxBodyBytes;
    const count = (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.received > limit) {
        this.req.off('data', count);
        this.res.setHeader('connection', 'close');
        this.fail(problems.bodyTooLarge(limit));
      }
    };
    this.req.on('data', count);
  }

  private fail(problem: Problem): void {
    if (this.done) return;
    this.upstream?.destroy();
    sendProblem(this.res, problem, { callId: this.callId });
    this.finish(problem.status);
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (code === 499) this.upstream?.destroy();
    if (this.endpoint !== undefined) this.endpoint.inflight--;
    this.route.inflight--;
    this.deps.record(this.route.key, code, this.started);
  }
}
