import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Clock } from '@nimbus/api/clock';
import { reachesInternalRoute } from '@nimbus/api/internal-path';
import type { Logger } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import { invocationIdFor } from '../invoke/invocation-id.js';
import {
  ClientDisconnectedError,
  type InvocationOutcome,
  type InvocationRequest,
} from '../invoke/invocation-runner.js';
import { TOKENS } from '../tokens.js';
import { type ErrorResponse, errorResponse } from './http-errors.js';
import { HttpInvocation } from './http-invocation.js';
import type { ReadinessReport } from './readiness.js';
import { RequestTracker } from './request-tracker.js';
import { writeError, writeJson, writeResponse, writeSystemReply } from './response-writer.js';
import {
  SPECIALISE_PATH,
  SYSTEM_ROUTES,
  disguisedSystemPath,
  isSystemPath,
  systemReply,
} from './system-routes.js';

export interface Runner {
  run(request: InvocationRequest): Promise<InvocationOutcome>;
}

export interface ReadinessState {
  readonly draining: boolean;
  markDraining(): void;
  report(): ReadinessReport;
}

export interface InvocationMetrics {
  observe(statusCode: number, seconds: number): void;
  /** One request for an internal route: its path when it names one, else `other` or `disguised`. */
  observeSystem(route: string): void;
  render(): string;
}

export interface RouteOptions {
  /** Ask the client not to reuse the connection (the replica is draining). */
  readonly close: boolean;
  /** The client sent `Expect: 100-continue` and waits for it before the body. */
  readonly expectsContinue: boolean;
}

/** Answers `/_/specialise`: a pool replica's endpoint, or a 404 in a replica started for its function. */
export interface SpecialiseRoute {
  serve(req: IncomingMessage, res: ServerResponse, options: RouteOptions): void;
}

/** Recorded for an invocation whose client left before the response (nginx's convention). */
const CLIENT_CLOSED_STATUS = 499;

/** The HTTP face of the runtime: /_/ endpoints, invocations, and the drain on shutdown. */
@injectable()
export class RuntimeServer {
  private readonly tracker = new RequestTracker();

  constructor(
    @inject(TOKENS.Config)
    private readonly config: Pick<RuntimeConfig, 'port' | 'host' | 'maxBodyBytes' | 'debug' | 'errorDetail'>,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.IdGenerator) private readonly newId: () => string,
    @inject(TOKENS.Metrics) private readonly metrics: InvocationMetrics,
    @inject(TOKENS.Readiness) private readonly readiness: ReadinessState,
    @inject(TOKENS.InvocationRunner) private readonly runner: Runner,
    @inject(TOKENS.HttpServer) private readonly server: Server,
    @inject(TOKENS.SpecialiseRoute) private readonly specialise: SpecialiseRoute,
  ) {
    server.on('request', (req, res) => this.onRequest(req, res, false));
    server.on('checkContinue', (req, res) => this.onRequest(req, res, true));
  }

  /** Resolves with the bound port (the real one when PORT=0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.config.port, host: this.config.host }, () => {
        this.server.off('error', reject);
        // After start-up a server error (e.g. too many open files on accept) is logged, not fatal.
        this.server.on('error', (error) => this.logger.error('http server error', { error }));
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Says draining on /_/ready (and asks clients not to reuse connections) while still serving. */
  beginShutdown(): void {
    this.readiness.markDraining();
  }

  /**
   * Stops taking connections and waits up to `timeoutMs` for requests in flight or queued to be
   * answered; resolves whether all of them were.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.readiness.markDraining();
    this.server.close(() => {});
    this.server.closeIdleConnections();
    let timer: unknown | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(false), timeoutMs);
    });
    const drained = await Promise.race([this.tracker.idle().then(() => true), timedOut]);
    if (timer) this.clock.clearTimeout(timer);
    if (!drained) this.logger.warn('drain timed out', { timeoutMs, unfinished: this.tracker.count });
    this.server.closeAllConnections();
    return drained;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    if (isSystemPath(path)) {
      this.serveSystem(req, res, path, expectsContinue);
      this.metrics.observeSystem(SYSTEM_ROUTES.has(path) ? path : 'other');
      return;
    }
    if (reachesInternalRoute(path)) {
      // `/%5F/health`, `//_/ready`, `/x/../_/metrics`: the gateway refuses these too. Neither the
      // internal route nor the handler takes them, so no reading of the path can pick the wrong one.
      writeSystemReply(res, disguisedSystemPath(), { invocationId: undefined, close: true });
      this.metrics.observeSystem('disguised');
      return;
    }
    void this.serveInvocation(req, res, expectsContinue);
  }

  private serveSystem(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    expectsContinue: boolean,
  ): void {
    if (path === SPECIALISE_PATH) {
      this.specialise.serve(req, res, { close: this.readiness.draining, expectsContinue });
      return;
    }
    const reply = systemReply(req.method ?? 'GET', path, {
      report: () => this.readiness.report(),
      renderMetrics: () => this.metrics.render(),
    });
    writeSystemReply(res, reply, { invocationId: undefined, close: this.readiness.draining });
  }

  /** Never rejects: the handler's failures are outcomes, and a failure of the runtime's own is answered here. */
  private async serveInvocation(
    req: IncomingMessage,
    res: ServerResponse,
    expectsContinue: boolean,
  ): Promise<void> {
    try {
      const started = performance.now();
      const done = this.tracker.start();
      const invocationId = invocationIdFor(req.headers, this.newId);
      const invocation = new HttpInvocation(
        invocationId,
        req,
        res,
        expectsContinue,
        this.config.maxBodyBytes,
      );
      res.on('close', () => {
        if (!res.writableFinished) invocation.cancellation.abort(new ClientDisconnectedError());
        done();
      });
      const outcome = await this.runner.run(invocation);
      const statusCode = this.respond(req, res, outcome, invocation);
      this.metrics.observe(statusCode, (performance.now() - started) / 1000);
    } catch (error) {
      this.logger.error('request failed in the runtime', {
        error: error instanceof Error ? error : String(error),
      });
      if (!res.headersSent && !res.destroyed) {
        writeJson(res, 500, { error: 'internal runtime error' }, { invocationId: undefined, close: true });
      }
    }
  }

  private respond(
    req: IncomingMessage,
    res: ServerResponse,
    outcome: InvocationOutcome,
    invocation: HttpInvocation,
  ): number {
    const { invocationId, span } = invocation;
    if (outcome.kind === 'disconnected' || res.destroyed) {
      res.destroy();
      return CLIENT_CLOSED_STATUS;
    }
    const failure =
      outcome.kind === 'failed'
        ? errorResponse(outcome.error, invocationId, this.config.debug, this.config.errorDetail)
        : undefined;
    const statusCode =
      outcome.kind === 'response' ? outcome.response.statusCode : (failure as ErrorResponse).statusCode;
    let spans: string | undefined;
    if (span !== undefined) {
      span.set('http.response.status_code', statusCode);
      span.end(outcome.kind === 'failed' ? outcome.error : undefined);
      spans = invocation.spans?.encode();
    }
    // An unread request body (e.g. after a 413) cannot be skipped safely, so the connection ends.
    const options = { invocationId, close: this.readiness.draining || !req.complete, spans };
    if (outcome.kind === 'response') writeResponse(res, outcome.response, options);
    else writeError(res, failure as ErrorResponse, options);
    return statusCode;
  }
}
