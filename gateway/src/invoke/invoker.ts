import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Clock, Logger } from '@nimbus/api';
import { AUTH_CLAIMS_HEADER, ROUTE_PARAMS_HEADER } from '@nimbus/api/gateway-headers';
import { VERSION_HEADER } from '@nimbus/api/traffic';
import type { Tracing } from '@nimbus/telemetry';
import { inject, injectable } from 'tsyringe';
import { Agent } from 'undici';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { type JwtAdmission, signIn, tokenHeaderKept } from '../auth/jwt-verifier.js';
import { checkScope } from '../auth/require-scope.js';
import type { GatewayConfig } from '../config.js';
import { callIdFrom, endToEndHeaders } from '../http/headers.js';
import { Problem, problems, sendProblem } from '../http/problems.js';
import type { Readiness } from '../ports.js';
import type { SignedIn } from '../quotas/rate-limit-plan.js';
import type { RateLimiter } from '../quotas/rate-limiter.js';
import { pickEndpoint } from '../routing/balancer.js';
import { HoldQueue, type HoldTicket } from '../routing/hold-queue.js';
import type { FunctionRoute, RouteTable } from '../routing/route-table.js';
import type { Waker } from '../routing/waker.js';
import { TOKENS } from '../tokens.js';
import { type BufferedRequest, type CallOutcome, bufferedCall } from './buffered-call.js';
import { Exchange } from './exchange.js';
import { INVOKE_PREFIX, parseInvokePath } from './function-path.js';
import { InvokeSpan } from './invoke-span.js';
import type { InvokeMetrics, Upstream } from './ports.js';
import { type RoutedCall, routeRequest } from './routed-call.js';
import { unknownFunction } from './unknown-function.js';
import { pinOf, versionOfBuffered, versionRouteOf } from './version-pick.js';

// Other modules (the async and trigger workers) import these from here, with the Invoker.
export type { BufferedRequest, CallOutcome, ResponseHead } from './buffered-call.js';

/**
 * Serves `ANY /function/{name}[.{namespace}][/rest]`, the synchronous invoke path, and the
 * Functions' own routes (spec.http.routes) through the same admission: admits the
 * request (name, auth, size, readiness), then hands it to a streaming Exchange at once, or to
 * the hold queue while the function has no ready replica. Also makes buffered calls for the
 * gateway's own workers.
 */
@injectable()
export class Invoker {
  private readonly agent: Agent;
  private readonly upstream: Upstream;
  private readonly holds: HoldQueue;

  constructor(
    @inject(TOKENS.Config) private readonly config: GatewayConfig,
    @inject(TOKENS.RouteTable) private readonly routes: RouteTable,
    @inject(TOKENS.ApiKeys) private readonly keys: ApiKeyVerifier,
    @inject(TOKENS.Metrics) private readonly metrics: InvokeMetrics,
    @inject(TOKENS.Logger) log: Logger,
    @inject(TOKENS.Waker) waker: Waker,
    @inject(TOKENS.Clock) clock: Clock,
    @inject(TOKENS.RateLimiter) private readonly limiter: Pick<RateLimiter, 'check'>,
    @inject(TOKENS.Tracing) private readonly tracing: Tracing,
    @inject(TOKENS.JwtAdmission) private readonly jwt: JwtAdmission,
    @inject(TOKENS.Readiness) private readonly readiness: Readiness,
  ) {
    // undici rather than node:http's client: measured 25-40% more requests per second through
    // the gateway, and its dispatch API hands us the response without a stream in between.
    this.agent = new Agent({ connections: config.upstreamMaxSockets, pipelining: 1 });
    let turn = 0;
    this.upstream = {
      dispatcher: this.agent,
      config,
      log,
      metrics,
      clock,
      pick: (route, exclude) => {
        turn = (turn + 1) % 1_000_000;
        return pickEndpoint(route.endpoints, turn, exclude);
      },
    };
    this.holds = new HoldQueue(config, clock, waker);
  }

  /**
   * A path no gateway prefix took, tried against the Functions' own routes: a match goes through
   * the same admission and forwarding as /function/{name}. False when no route matches.
   */
  serveRoute(req: IncomingMessage, res: ServerResponse): boolean {
    const routed = routeRequest(this.routes, req, res);
    if (routed === 'none') return false;
    if (routed !== 'answered') this.handle(req, res, routed);
    return true;
  }

  /** `routed`: the request came by a Function's own route (serveRoute), not /function/{name}. */
  handle(req: IncomingMessage, res: ServerResponse, routed?: RoutedCall): void {
    const started = performance.now();
    // Undefined with tracing off: every use below is one check.
    const span = InvokeSpan.start(this.tracing, req, res);
    const admitted = this.admit(req, res, routed);
    if (admitted instanceof Refused) {
      if (admitted.fn !== '') span?.admitted(admitted.fn);
      sendProblem(res, admitted.error);
      this.record(admitted.fn, admitted.error.status, started, span);
      return;
    }
    span?.admitted(admitted.route.key);
    if (admitted.route.auth === 'jwt') this.signIn(req, res, admitted, started, span);
    else this.limit(req, res, admitted, started, span);
  }

  /** auth jwt: the token is checked (its keys perhaps fetched) before anything else waits on the call. */
  private signIn(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    started: number,
    span: InvokeSpan | undefined,
  ): void {
    const verified = signIn(this.jwt, admitted.route, req.headers.authorization, admitted.requirements);
    this.whenPassed(
      verified.then((v) => {
        if (v instanceof Problem) return v;
        admitted.claimsHeader = v.claimsHeader;
        admitted.signedIn = v.claims;
        return undefined;
      }),
      req,
      res,
      admitted,
      started,
      span,
      () => this.limit(req, res, admitted, started, span),
    );
  }

  private limit(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    started: number,
    span: InvokeSpan | undefined,
  ): void {
    // Only a function or key with a rate limit waits for the shared counters; the rest go on at once.
    const limited = this.limiter.check(admitted.route, req.headers.authorization, admitted.signedIn);
    if (limited === undefined) this.forward(req, res, admitted, started, span);
    else
      this.whenPassed(limited, req, res, admitted, started, span, () =>
        this.forward(req, res, admitted, started, span),
      );
  }

  /**
   * A check that has to wait (sign-in, a shared rate limit): its problem is the answer, a caller
   * gone meanwhile counts as client-closed (499), and otherwise `next` goes on with the call.
   */
  private whenPassed(
    check: Promise<Problem | undefined>,
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    started: number,
    span: InvokeSpan | undefined,
    next: () => void,
  ): void {
    check.then(
      (problem) => {
        if (problem !== undefined) {
          // Close rather than read a body we refused.
          if (!req.complete) res.setHeader('connection', 'close');
          sendProblem(res, problem);
          this.record(admitted.route.key, problem.status, started, span);
        } else if (res.destroyed) this.record(admitted.route.key, 499, started, span);
        else next();
      },
      (err: unknown) => sendProblem(res, err),
    );
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    started: number,
    span: InvokeSpan | undefined,
  ): void {
    // The Function's own admission passed: now the version that serves, if it keeps versions.
    const served = versionRouteOf(this.routes, admitted.route, Math.random, {
      pin: pinOf(req.headers[VERSION_HEADER]),
      tag: admitted.tag,
    });
    if (served instanceof Problem) {
      // Close rather than read a body we refused.
      if (!req.complete) res.setHeader('connection', 'close');
      sendProblem(res, served);
      this.record(admitted.route.key, served.status, started, span);
      return;
    }
    admitted.route = served;
    const { route, consumedHeader } = admitted;
    const callId = callIdFrom(req.headers['x-call-id'], randomUUID);
    const headers = endToEndHeaders(req.headers, consumedHeader);
    headers['x-call-id'] = callId;
    if (admitted.params !== undefined) headers[ROUTE_PARAMS_HEADER] = admitted.params;
    if (admitted.claimsHeader !== undefined) headers[AUTH_CLAIMS_HEADER] = admitted.claimsHeader;
    const forwardedFor = req.headers['x-forwarded-for'];
    const peer = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
    // With tracing on, the replica's parent is the gateway's forward span; off, the caller's traceparent passes as it came.
    span?.forwarding(callId, headers);
    if (route.endpoints.length > 0) this.exchange(req, res, admitted, headers, callId, started, span, false);
    // The closure is made only for a request that must wait: the hot path allocates none.
    else
      this.hold(route, res, started, callId, span, () =>
        this.exchange(req, res, admitted, headers, callId, started, span, true),
      );
  }

  /** Streams the request to a replica and its answer back; `coldStart`: it was held for one. */
  private exchange(
    req: IncomingMessage,
    res: ServerResponse,
    { route, upstreamPath }: Admitted,
    headers: OutgoingHttpHeaders,
    callId: string,
    started: number,
    span: InvokeSpan | undefined,
    coldStart: boolean,
  ): void {
    new Exchange(
      this.upstream,
      req,
      res,
      route,
      upstreamPath,
      headers,
      callId,
      started,
      coldStart,
      span,
    ).start();
  }

  /**
   * No ready replica: the request goes into the hold queue, which wakes the function. Its body
   * stays unread meanwhile, so a large upload waits in the client's socket, not in the gateway's
   * memory. A caller that hangs up leaves the queue and counts as client-closed (499).
   */
  private hold(
    route: FunctionRoute,
    res: ServerResponse,
    started: number,
    callId: string,
    span: InvokeSpan | undefined,
    go: () => void,
  ): void {
    const trace = span?.held();
    const refuse = (problem: Problem) => {
      span?.released(problem);
      sendProblem(res, problem, { callId });
      this.metrics.recordColdStartFailure(route.key);
      route.outcomes?.record(problem.status, performance.now() - started, true);
      this.record(route.key, problem.status, started, span);
    };
    let ticket: HoldTicket | undefined;
    const disconnected = () => {
      ticket?.leave();
      this.record(route.key, 499, started, span);
    };
    // Listening before holding: the waker may bring a replica up, and release, before hold returns.
    res.once('close', disconnected);
    const held = this.holds.hold(route, {
      release: () => {
        res.off('close', disconnected);
        span?.released();
        this.metrics.recordColdStart(route.key, (performance.now() - started) / 1000);
        go();
      },
      drop: (problem) => {
        res.off('close', disconnected);
        refuse(problem);
      },
      trace,
    });
    if (held instanceof Problem) {
      res.off('close', disconnected);
      refuse(held);
    } else ticket = held;
  }

  /**
   * Runs one request through the function's routing as the invoke path does, and hands back the
   * response, of which only the start of a large body is held (`keepBytes`, `overflow`): for
   * callers inside the gateway that have no client socket to stream to.
   */
  async call(route: FunctionRoute, request: BufferedRequest, signal?: AbortSignal): Promise<CallOutcome> {
    const started = performance.now();
    const chosen = versionOfBuffered(this.routes, route, request);
    if (chosen instanceof Problem)
      return { kind: 'failed', problem: chosen, unreachable: chosen.status !== 404 };
    const { served, sent } = chosen;
    const held = served.endpoints.length === 0;
    const outcome = await bufferedCall(this.upstream, this.holds, served, sent, signal);
    if (served.version === undefined) return outcome;
    // As a sync call's: counted, and timed unless it waited for the version to wake.
    served.outcomes?.record(
      outcome.kind === 'response' ? outcome.status : outcome.problem.status,
      performance.now() - started,
      held,
    );
    if (outcome.kind === 'response') outcome.headers[VERSION_HEADER] = served.version;
    return outcome;
  }

  private record(fn: string, code: number, started: number, span: InvokeSpan | undefined): void {
    this.metrics.record(fn, code, (performance.now() - started) / 1000, span?.traceId);
  }

  /** Everything that can refuse a request before it goes anywhere: name, auth, size, readiness. */
  private admit(
    req: IncomingMessage,
    res: ServerResponse,
    routed: RoutedCall | undefined,
  ): Admitted | Refused {
    const found = routed === undefined ? this.target(req) : routed;
    if (found instanceof Refused) return found;
    const { route } = found;
    let consumedHeader: string | undefined;
    if (route.auth === 'key') {
      const denied = checkScope(this.keys, req.headers.authorization, 'invoke');
      if (denied !== undefined) return new Refused(route.key, denied);
      // The key was for the gateway; the function's code has no business seeing it.
      consumedHeader = 'authorization';
    } else if (route.auth === 'jwt') consumedHeader = tokenHeaderKept(route.jwt);
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
    // A routed request reaches the replica by its own path and query.
    const upstreamPath = 'upstreamPath' in found ? found.upstreamPath : (req.url as string);
    return {
      route,
      upstreamPath,
      tag: 'tag' in found ? found.tag : undefined,
      consumedHeader,
      params: routed?.params,
      // By a route: its own requirements; by name: every route's, so none is sidestepped.
      requirements:
        routed === undefined
          ? this.routes.http.requirementsOf(route.key)
          : routed.requirements === undefined
            ? []
            : [routed.requirements],
      claimsHeader: undefined,
      signedIn: undefined,
    };
  }

  /** The function a `/function/{name}[.{namespace}]/rest` path names. */
  private target(req: IncomingMessage): Target | Refused {
    const { defaultNamespace, openfaasNamespace } = this.config;
    const target = parseInvokePath(req.url as string, defaultNamespace, INVOKE_PREFIX, openfaasNamespace);
    if ('invalid' in target) return new Refused('', problems.invalidFunctionName(target.invalid));
    if (target.internal) return new Refused('', problems.internalRoute());
    const route = this.routes.get(target.namespace, target.name);
    if (route === undefined)
      return new Refused('', unknownFunction(this.readiness, target.name, target.namespace));
    return { route, upstreamPath: target.upstreamPath, tag: target.tag };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

interface Target {
  route: FunctionRoute;
  upstreamPath: string;
  /** `/function/{name}@{tag}`: the tagged version must serve. */
  tag?: string | undefined;
}

interface Admitted extends Target {
  consumedHeader: string | undefined;
  /** The route parameters as JSON, for a request that came by a Function's own route. */
  params: string | undefined;
  /** With auth jwt, once the token is verified: its claims, for AUTH_CLAIMS_HEADER, and who for rate limits. */
  claimsHeader: string | undefined;
  signedIn: SignedIn | undefined;
  /** With auth jwt: the route's own requirements, checked with the Function's. */
  requirements: readonly NonNullable<RoutedCall['requirements']>[];
}

class Refused {
  constructor(
    readonly fn: string,
    readonly error: Problem,
  ) {}
}
