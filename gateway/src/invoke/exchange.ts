import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { SPANS_RESPONSE_HEADER } from '@nimbus/api/replica-spans';
import { VERSION_HEADER } from '@nimbus/api/traffic';
import type { Dispatcher } from 'undici';
import { isHopByHop } from '../http/headers.js';
import { type Problem, sendProblem } from '../http/problems.js';
import type { Endpoint, FunctionRoute } from '../routing/route-table.js';
import type { InvokeSpan } from './invoke-span.js';
import type { Upstream } from './ports.js';
import { type AttemptTarget, ReplicaRetry } from './replica-retry.js';
import { BodyTooLargeError, type UpstreamFailure } from './upstream-errors.js';

/** Response headers the gateway writes itself, in place of any the replica sent. */
const SET_BY_GATEWAY = new Set(['x-call-id', 'x-duration-seconds', 'x-nimbus-cold-start']);

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

/**
 * One caller's request streamed to a replica and its answer streamed back, with its accounting:
 * an undici dispatch handler. Which replica, and whether to try another, is `ReplicaRetry`'s call.
 */
export class Exchange implements AttemptTarget, Dispatcher.DispatchHandlers {
  private readonly retry: ReplicaRetry;
  private readonly hasBody: boolean;
  private abort: ((err?: Error) => void) | undefined;
  private status = 0;
  private answered = false;
  private done = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: FunctionRoute,
    private readonly path: string,
    private readonly headers: OutgoingHttpHeaders,
    private readonly callId: string,
    private readonly started: number,
    /** The request waited for a ready replica; the response says so. */
    private readonly coldStart: boolean,
    /** The call's spans, with tracing on (and its trace id the duration metric's exemplar). */
    private readonly span: InvokeSpan | undefined,
  ) {
    const length = req.headers['content-length'];
    this.hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    // The function's own timeout, so gateway, runtime and caller agree on it.
    const timeoutMs = route.timeoutMs + upstream.config.timeoutGraceMs;
    this.retry = new ReplicaRetry(upstream, route, timeoutMs, callId, this);
    route.load.begin();
    res.once('close', () => {
      // The caller went away first: stop the replica's work too.
      if (!this.done) {
        this.abort?.();
        this.finish(499);
      }
    });
  }

  start(): void {
    this.retry.attempt();
  }

  send(endpoint: Endpoint): void {
    this.span?.sending(endpoint.origin, this.headers);
    const chunked = this.req.headers['content-length'] === undefined;
    this.upstream.dispatcher.dispatch(
      {
        origin: endpoint.origin,
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers as Record<string, string>,
        // undici writes async iterables (client-h1 writeIterable); its types only list streams.
        body: this.hasBody
          ? (bodyOf(this.req, chunked ? this.upstream.config.maxBodyBytes : undefined) as unknown as Readable)
          : null,
        headersTimeout: this.retry.timeoutMs,
        bodyTimeout: this.retry.timeoutMs,
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
    let spans: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1');
      const lower = name.toLowerCase();
      // The replica's spans are for the gateway only, tracing on or off.
      if (lower === SPANS_RESPONSE_HEADER) spans = (raw[i + 1] as Buffer).toString('latin1');
      else if (
        !isHopByHop(lower) &&
        !SET_BY_GATEWAY.has(lower) &&
        // A version's replica cannot claim another version served; an unversioned one's header passes as before.
        !(lower === VERSION_HEADER && this.route.version !== undefined)
      ) {
        headers.push(name, varyWithOurs(this.res, lower, (raw[i + 1] as Buffer).toString('latin1')));
      }
    }
    this.span?.answered(status, spans);
    headers.push(
      'x-call-id',
      this.callId,
      'x-duration-seconds',
      ((performance.now() - this.started) / 1000).toFixed(6),
    );
    if (this.coldStart) headers.push('x-nimbus-cold-start', 'true');
    // Which version served, for callers and tests; a replica cannot claim another.
    if (this.route.version !== undefined) headers.push(VERSION_HEADER, this.route.version);
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
    if (this.answered) {
      // Headers are out, whatever the error (a body timeout too): all that is left is to cut the
      // response short. Counted as 502: the gateway could not deliver the replica's answer.
      this.res.destroy();
      this.finish(502);
      return;
    }
    this.abort = undefined;
    this.span?.attemptFailed(err.message);
    this.retry.failed(err);
  }

  fail(problem: Problem, failure: UpstreamFailure): void {
    if (this.done) return;
    // Close rather than read the rest of a body we refused.
    if (failure === 'body-too-large') this.res.setHeader('connection', 'close');
    this.abort?.();
    sendProblem(this.res, problem, { callId: this.callId });
    this.finish(problem.status);
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    this.retry.done();
    this.route.load.end();
    const ms = performance.now() - this.started;
    // A version route's calls are what a rollout judges it on (routing/version-outcomes.ts).
    this.route.outcomes?.record(code, ms, this.coldStart);
    this.upstream.metrics.record(this.route.key, code, ms / 1000, this.span?.traceId);
  }
}

/**
 * The function's own header wins over one the gateway set before forwarding (a route's CORS
 * headers), except Vary, whose fields add up: a cache must key on the Origin the gateway's
 * answer depends on as well as on what the function's does.
 */
function varyWithOurs(res: ServerResponse, lower: string, value: string): string {
  if (lower !== 'vary') return value;
  const ours = res.getHeader('vary');
  if (
    typeof ours !== 'string' ||
    value
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(ours.toLowerCase())
  )
    return value;
  return `${ours}, ${value}`;
}
