import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from '@nimbus/api';
import { inject, injectable } from 'tsyringe';
import { Agent, type Dispatcher } from 'undici';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { checkScope } from '../auth/require-scope.js';
import type { GatewayConfig } from '../config.js';
import { callIdFrom, endToEndHeaders, isHopByHop } from '../http/headers.js';
import { Problem, problems, sendProblem } from '../http/problems.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { pickEndpoint } from '../routing/balancer.js';
import type { Endpoint, FunctionRoute, HeldRequest, RouteTable } from '../routing/route-table.js';
import type { Waker } from '../routing/waker.js';
import { TOKENS } from '../tokens.js';
import { parseInvokePath } from './function-path.js';

/**
 * Errors of a connection that was never established: the replica never saw the request (and
 * none of its body was read), so another replica may take it. A failure after connecting may
 * mean the replica ran the call, and it is not repeated.
 */
const NEVER_CONNECTED = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const MAX_ATTEMPTS = 3;
/** Response headers the gateway writes itself, in place of any the replica sent. */
const SET_BY_GATEWAY = new Set(['x-call-id', 'x-duration-seconds', 'x-nimbus-cold-start']);

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
    @inject(TOKENS.Logger) log: Logger,
    @inject(TOKENS.Waker) private readonly waker: Waker,
  ) {
    // undici rather than node:http's client: measured 25-40% more requests per second through
    // the gateway, and its dispatch API hands us the response without a stream in between.
    this.agent = new Agent({ connections: config.upstreamMaxSockets, pipelining: 1 });
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
      this.deps.record(admitted.fn, admitted.error.status, started);
      return;
    }
    const { route, upstreamPath, consumedHeader } = admitted;
    const callId = callIdFrom(req.headers['x-call-id'], randomUUID);
    const headers = endToEndHeaders(req.headers, consumedHeader);
    headers['x-call-id'] = callId;
    const forwardedFor = req.headers['x-forwarded-for'];
    const peer = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
    if (route.endpoints.length > 0) {
      new Exchange(this.deps, req, res, route, upstreamPath, headers, callId, started, false).attempt();
    } else {
      // The closure is made only for a request that must wait: the hot path allocates none.
      this.hold(route, res, started, callId, () =>
        new Exchange(this.deps, req, res, route, upstreamPath, headers, callId, started, true).attempt(),
      );
    }
  }

  /**
   * No ready replica: the request waits for one (bounded in number and in time), and the
   * function is woken at once. Its body stays unread meanwhile, so a large upload waits in the
   * client's socket, not in the gateway's memory.
   */
  private hold(
    route: FunctionRoute,
    res: ServerResponse,
    started: number,
    callId: string,
    go: () => void,
  ): void {
    const refuse = (problem: Problem) => {
      sendProblem(res, problem, { callId });
      this.deps.record(route.key, problem.status, started);
    };
    const ticket = this.enqueueHeld(route, {
      release: () => {
        res.off('close', disconnected);
        this.metrics.recordColdStart(route.key, (performance.now() - started) / 1000);
        go();
      },
      drop: (problem) => {
        res.off('close', disconnected);
        refuse(problem);
      },
    });
    if (ticket instanceof Problem) {
      refuse(ticket);
      return;
    }
    // The caller gave up: it leaves the queue and counts as client-closed.
    const disconnected = () => {
      ticket.leave();
      this.deps.record(route.key, 499, started);
    };
    res.once('close', disconnected);
    this.waker.wake(route);
  }

  /**
   * Puts a request in the function's hold queue, to be released when a replica is ready or
   * dropped with the problem to answer (its wait ran out, the function went away). The caller
   * wakes the function once it is ready to be released. A full queue is the problem itself.
   */
  private enqueueHeld(
    route: FunctionRoute,
    waiting: { release(): void; drop(problem: Problem): void },
  ): { leave(): void } | Problem {
    if (route.held.size >= this.config.holdQueueSize) {
      return this.config.holdQueueSize === 0
        ? problems.unavailable(route.name, route.unavailableReason ?? 'no replica is ready yet')
        : problems.holdQueueFull(route.name, route.held.size);
    }
    const leave = () => {
      clearTimeout(timer);
      route.held.delete(held);
    };
    const held: HeldRequest = {
      release: () => {
        leave();
        waiting.release();
      },
      drop: (reason, gone) => {
        leave();
        waiting.drop(
          gone
            ? problems.functionNotFound(route.name, route.namespace)
            : problems.unavailable(route.name, reason),
        );
      },
    };
    const timer = setTimeout(() => {
      held.drop(
        `${route.unavailableReason ?? 'no replica became ready'} (waited ${this.config.wakeTimeoutMs} ms)`,
        false,
      );
    }, this.config.wakeTimeoutMs);
    route.held.add(held);
    return { leave };
  }

  /**
   * Runs one request through the function's routing as the invoke path does (hold and wake at
   * zero, least in-flight balancing, another replica on a refused connection, the function's
   * timeout) and hands back the whole response: for callers inside the gateway, such as the
   * async workers, that have no client socket to stream to.
   */
  async call(route: FunctionRoute, request: BufferedRequest): Promise<CallOutcome> {
    const held = performance.now();
    let initMs: number | undefined;
    if (route.endpoints.length === 0) {
      const problem =
        route.failure !== undefined
          ? problems.unavailable(route.name, route.failure)
          : await this.waitForReplica(route);
      if (problem !== undefined) return { kind: 'failed', problem, unreachable: problem.status !== 404 };
      initMs = performance.now() - held;
      this.metrics.recordColdStart(route.key, initMs / 1000);
    }
    const started = performance.now();
    const timing = () => ({
      durationMs: performance.now() - started,
      ...(initMs === undefined ? {} : { initMs }),
    });
    const timeoutMs = route.timeoutMs + this.config.timeoutGraceMs;
    const tried = new Set<Endpoint>();
    route.inflight++;
    try {
      for (;;) {
        const endpoint = this.deps.pick(route, tried);
        if (endpoint === undefined) {
          const problem = problems.unavailable(route.name, 'no replica accepted the connection');
          return { kind: 'failed', problem, unreachable: true, ...timing() };
        }
        tried.add(endpoint);
        endpoint.inflight++;
        try {
          const response = await new Promise<BufferedResponse>((resolve, reject) =>
            this.agent.dispatch(
              {
                origin: endpoint.origin,
                path: request.path,
                method: request.method as Dispatcher.HttpMethod,
                headers: request.headers as Record<string, string>,
                body: request.body.byteLength === 0 ? null : request.body,
                headersTimeout: timeoutMs,
                bodyTimeout: timeoutMs,
              },
              new BufferingHandler(resolve, reject),
            ),
          );
          return { kind: 'response', ...response, ...timing() };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== undefined && NEVER_CONNECTED.has(code) && tried.size < MAX_ATTEMPTS) continue;
          if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
            return {
              kind: 'failed',
              problem: problems.timeout(route.name, timeoutMs),
              unreachable: false,
              ...timing(),
            };
          }
          return {
            kind: 'failed',
            problem: problems.badGateway(route.name, err),
            unreachable: true,
            ...timing(),
          };
        } finally {
          endpoint.inflight--;
        }
      }
    } finally {
      route.inflight--;
    }
  }

  /** Waits in the hold queue; resolves with the problem when no replica became ready. */
  private waitForReplica(route: FunctionRoute): Promise<Problem | undefined> {
    return new Promise((resolve) => {
      const ticket = this.enqueueHeld(route, { release: () => resolve(undefined), drop: resolve });
      if (ticket instanceof Problem) resolve(ticket);
      else this.waker.wake(route);
    });
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
    // Known not to come up as things stand (a handler that fails to load): no point waiting.
    if (route.endpoints.length === 0 && route.failure !== undefined) {
      return new Refused(route.key, problems.unavailable(route.name, route.failure));
    }
    return { route, upstreamPath: target.upstreamPath, consumedHeader };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** A request the gateway makes itself, its body in hand. */
export interface BufferedRequest {
  readonly method: string;
  /** The path and query the replica receives. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** How a buffered call ended. Times are milliseconds; `initMs` is the wait for a replica, when there was one. */
export type CallOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: Buffer;
      readonly durationMs: number;
      readonly initMs?: number;
    }
  | {
      readonly kind: 'failed';
      readonly problem: Problem;
      /** No replica answered (none ready, refused, reset, cut short): worth trying again. */
      readonly unreachable: boolean;
      readonly durationMs?: number;
      readonly initMs?: number;
    };

interface BufferedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Collects a whole response: undici's dispatch API without the stream `request()` puts in
 * between. Headers come as one string each (repeated ones joined, as HTTP allows), lower-case,
 * hop-by-hop ones left out.
 */
class BufferingHandler implements Dispatcher.DispatchHandlers {
  private status = 0;
  private readonly headers: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly resolve: (response: BufferedResponse) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onConnect(): void {}

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (status < 200) return true;
    this.status = status;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
      if (isHopByHop(name)) continue;
      const value = (raw[i + 1] as Buffer).toString('latin1');
      const earlier = this.headers[name];
      this.headers[name] = earlier === undefined ? value : `${earlier}, ${value}`;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.resolve({ status: this.status, headers: this.headers, body });
  }

  onError(err: Error): void {
    this.reject(err);
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

class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/**
 * The request body as undici will read it. Nothing is read from the caller until undici writes
 * the body, after it has connected, so a refused connection leaves the body whole for a retry.
 * The caller's stream is never destroyed from here: the gateway may still owe it an answer.
 * A body without a declared length is counted as it streams.
 */
async function* bodyOf(req: IncomingMessage, limit: number | undefined): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (limit !== undefined && received > limit) throw new BodyTooLargeError(limit);
    yield chunk;
  }
}

/** One request's trip to a replica, with its retries and accounting: an undici dispatch handler. */
class Exchange implements Dispatcher.DispatchHandlers {
  private readonly tried = new Set<Endpoint>();
  private readonly hasBody: boolean;
  private readonly timeoutMs: number;
  private endpoint: Endpoint | undefined;
  private abort: ((err?: Error) => void) | undefined;
  private status = 0;
  private answered = false;
  private done = false;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: FunctionRoute,
    private readonly path: string,
    private readonly headers: OutgoingHttpHeaders,
    private readonly callId: string,
    private readonly started: number,
    /** The request waited for a ready replica; the response says so. */
    private readonly coldStart: boolean,
  ) {
    const length = req.headers['content-length'];
    this.hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    this.timeoutMs = route.timeoutMs + deps.config.timeoutGraceMs;
    route.inflight++;
    res.once('close', () => {
      // The caller went away first: stop the replica's work too.
      if (!this.done) {
        this.abort?.();
        this.finish(499);
      }
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
    const chunked = this.req.headers['content-length'] === undefined;
    this.deps.agent.dispatch(
      {
        origin: endpoint.origin,
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers as Record<string, string>,
        // undici writes async iterables (client-h1 writeIterable); its types only list streams.
        body: this.hasBody
          ? (bodyOf(this.req, chunked ? this.deps.config.maxBodyBytes : undefined) as unknown as Readable)
          : null,
        // The function's own timeout, so gateway, runtime and caller agree on it.
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) abort();
    else this.abort = abort;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (this.done || status < 200) return true;
    this.answered = true;
    this.status = status;
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1');
      if (!isHopByHop(name) && !SET_BY_GATEWAY.has(name.toLowerCase())) {
        headers.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      }
    }
    headers.push(
      'x-call-id',
      this.callId,
      'x-duration-seconds',
      ((performance.now() - this.started) / 1000).toFixed(6),
    );
    if (this.coldStart) headers.push('x-nimbus-cold-start', 'true');
    this.res.writeHead(status, headers);
    this.res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.done || this.res.write(chunk);
  }

  onComplete(): void {
    if (this.done) return;
    this.res.end();
    this.finish(this.status);
  }

  onError(err: Error): void {
    if (this.done) return;
    const endpoint = this.endpoint as Endpoint;
    if (this.answered) {
      // Headers are out: all that is left is to cut the response short.
      this.res.destroy();
      this.finish(502);
      return;
    }
    endpoint.inflight--;
    this.endpoint = undefined;
    this.abort = undefined;
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof BodyTooLargeError) {
      this.res.setHeader('connection', 'close');
      this.fail(problems.bodyTooLarge(err.limit));
    } else if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      this.fail(problems.timeout(this.route.name, this.timeoutMs));
    } else if (code !== undefined && NEVER_CONNECTED.has(code) && this.tried.size < MAX_ATTEMPTS) {
      this.deps.log.warn('replica refused the connection; trying another', {
        function: this.route.key,
        endpoint: endpoint.id,
        code,
        callId: this.callId,
      });
      this.attempt();
    } else {
      this.fail(problems.badGateway(this.route.name, err));
    }
  }

  private fail(problem: Problem): void {
    if (this.done) return;
    this.abort?.();
    sendProblem(this.res, problem, { callId: this.callId });
    this.finish(problem.status);
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    if (this.endpoint !== undefined) this.endpoint.inflight--;
    this.route.inflight--;
    this.deps.record(this.route.key, code, this.started);
  }
}
