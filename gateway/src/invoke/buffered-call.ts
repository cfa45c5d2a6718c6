import type { Writable } from 'node:stream';
import { SPANS_RESPONSE_HEADER } from '@nimbus/api/replica-spans';
import type { Dispatcher } from 'undici';
import { isHopByHop } from '../http/headers.js';
import { type Problem, problems } from '../http/problems.js';
import type { HoldQueue } from '../routing/hold-queue.js';
import type { Endpoint, FunctionRoute } from '../routing/route-table.js';
import type { Upstream } from './ports.js';
import { type AttemptTarget, ReplicaRetry } from './replica-retry.js';
import type { UpstreamFailure } from './upstream-errors.js';

/** The bytes of an answer kept when the caller names no limit. */
export const DEFAULT_KEPT_RESPONSE_BYTES = 1024 * 1024;

/** What is known of an answer when its body outgrows what is kept. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A request the gateway makes itself, its body in hand. */
export interface BufferedRequest {
  readonly method: string;
  /** The path and query the replica receives. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /**
   * The most of the answer's body kept in memory (DEFAULT_KEPT_RESPONSE_BYTES when not given).
   * The rest is read and counted, and dropped, or written to `overflow`'s stream.
   */
  readonly keepBytes?: number;
  /**
   * Asked once, when the body outgrows `keepBytes`: a stream to write the whole body to (the kept
   * start first, then the rest as it comes, the replica paused while the stream is full), or
   * undefined to keep only the start. It is ended when the answer is, destroyed when it is cut
   * short; should it close early itself, the rest of the body is counted and dropped.
   */
  readonly overflow?: (head: ResponseHead) => Writable | undefined;
}

/** How a buffered call ended. Times are milliseconds; `initMs` is the wait for a replica, when there was one. */
export type CallOutcome =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Record<string, string>;
      /** The whole body, or its first `keepBytes` when it was larger (see `size`). */
      readonly body: Buffer;
      /** Bytes in the whole body. */
      readonly size: number;
      readonly durationMs: number;
      readonly initMs?: number;
      /** The spans the replica sent back (its header's value), when it was asked for them. */
      readonly replicaSpans?: string;
    }
  | {
      readonly kind: 'failed';
      readonly problem: Problem;
      /** No replica answered (none ready, refused, reset, cut short): worth trying again. */
      readonly unreachable: boolean;
      readonly durationMs?: number;
      readonly initMs?: number;
    };

/**
 * Runs one request through the function's routing as the invoke path does (hold and wake at
 * zero, least in-flight balancing, another replica when one never connected, the function's
 * timeout) and hands back the response: for callers inside the gateway, such as the async and
 * trigger workers, that have no client socket to stream to. Only the start of a large body is
 * held (`keepBytes`), so no function can make the gateway hold its whole answer.
 */
export async function bufferedCall(
  upstream: Upstream,
  holds: HoldQueue,
  route: FunctionRoute,
  request: BufferedRequest,
  signal?: AbortSignal,
): Promise<CallOutcome> {
  let initMs: number | undefined;
  if (route.endpoints.length === 0) {
    const heldAt = performance.now();
    const problem =
      route.failure !== undefined ? problems.unavailable(route.name, route.failure) : await holds.wait(route);
    if (problem !== undefined) return { kind: 'failed', problem, unreachable: problem.status !== 404 };
    initMs = performance.now() - heldAt;
    upstream.metrics.recordColdStart(route.key, initMs / 1000);
  }
  if (signal?.aborted) return { kind: 'failed', problem: problems.cancelled(route.name), unreachable: false };
  return new Promise((resolve) =>
    new BufferedCall(upstream, route, request, initMs, resolve, signal).start(),
  );
}

/**
 * One buffered call's trip to a replica: undici's dispatch API without the stream `request()`
 * puts in between. Headers come as one string each (repeated ones joined, as HTTP allows),
 * lower-case, hop-by-hop ones left out.
 */
class BufferedCall implements AttemptTarget, Dispatcher.DispatchHandlers {
  private readonly retry: ReplicaRetry;
  private readonly started = performance.now();
  private readonly keepBytes: number;
  private status = 0;
  private replicaSpans: string | undefined;
  private headers: Record<string, string> = {};
  private chunks: Buffer[] = [];
  /** Ends the attempt in flight: undici hands it over when the request is dispatched. */
  private abortAttempt: ((err: Error) => void) | undefined;
  private kept = 0;
  private size = 0;
  /** Set once the body outgrew keepBytes and `overflow` gave a stream; cleared if it closes early. */
  private sink: Writable | undefined;
  private overflowAsked = false;
  private resume: (() => void) | undefined;

  constructor(
    private readonly upstream: Upstream,
    private readonly route: FunctionRoute,
    private readonly request: BufferedRequest,
    private readonly initMs: number | undefined,
    private readonly resolve: (outcome: CallOutcome) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    const timeoutMs = route.timeoutMs + upstream.config.timeoutGraceMs;
    this.retry = new ReplicaRetry(upstream, route, timeoutMs, request.headers['x-call-id'], this);
    this.keepBytes = request.keepBytes ?? DEFAULT_KEPT_RESPONSE_BYTES;
  }

  start(): void {
    this.route.load.begin();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.retry.attempt();
  }

  /** The caller gave up (a cron run replaced): the replica sees the connection go. */
  private readonly onAbort = (): void => {
    this.abortAttempt?.(new Error('the call was cancelled'));
  };

  send(endpoint: Endpoint): void {
    this.status = 0;
    this.headers = {};
    this.chunks = [];
    this.kept = 0;
    this.size = 0;
    this.upstream.dispatcher.dispatch(
      {
        origin: endpoint.origin,
        path: this.request.path,
        method: this.request.method as Dispatcher.HttpMethod,
        headers: this.request.headers as Record<string, string>,
        body: this.request.body.byteLength === 0 ? null : this.request.body,
        headersTimeout: this.retry.timeoutMs,
        bodyTimeout: this.retry.timeoutMs,
      },
      this,
    );
  }

  fail(problem: Problem, failure: UpstreamFailure): void {
    // A timeout reached a replica, which may have done the work; anything else never got an answer.
    this.finish({ kind: 'failed', problem, unreachable: failure !== 'timeout', ...this.timing() });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortAttempt = abort;
    if (this.signal?.aborted) abort(new Error('the call was cancelled'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true;
    this.status = status;
    this.resume = resume;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
      if (isHopByHop(name)) continue;
      const value = (raw[i + 1] as Buffer).toString('latin1');
      // The replica's spans are for the gateway's tracing, never for a call's record or callback.
      if (name === SPANS_RESPONSE_HEADER) {
        this.replicaSpans = value;
        continue;
      }
      const earlier = this.headers[name];
      this.headers[name] = earlier === undefined ? value : `${earlier}, ${value}`;
    }
    return true;
  }

  /** Returns false to pause the replica while the overflow stream is full. */
  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.sink !== undefined) return this.sink.write(chunk);
    const room = this.keepBytes - this.kept;
    if (room > 0) {
      // A copy of a cut, so the kept start does not pin the whole chunk it came in.
      this.chunks.push(chunk.length <= room ? chunk : Buffer.from(chunk.subarray(0, room)));
      this.kept += Math.min(room, chunk.length);
    }
    if (chunk.length <= room || this.overflowAsked) return true;
    this.overflowAsked = true;
    const sink = this.request.overflow?.({ status: this.status, headers: this.headers });
    if (sink === undefined) return true;
    this.sink = sink;
    // Its reader's failures are the reader's to report; here they only mean "stop writing" (close).
    sink.on('error', () => {});
    sink.on('drain', () => this.resume?.());
    sink.once('close', () => {
      // Closed before the answer ended (its reader gave up): the rest is counted and dropped.
      if (this.sink === sink) {
        this.sink = undefined;
        this.resume?.();
      }
    });
    for (const kept of this.chunks) sink.write(kept);
    return sink.write(chunk.subarray(Math.max(0, room)));
  }

  onComplete(): void {
    this.retry.done();
    const sink = this.sink;
    this.sink = undefined;
    sink?.end();
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.finish({
      kind: 'response',
      status: this.status,
      headers: this.headers,
      body,
      size: this.size,
      ...this.timing(),
      ...(this.replicaSpans === undefined ? {} : { replicaSpans: this.replicaSpans }),
    });
  }

  onError(err: Error): void {
    // The answer was cut short: whoever reads the overflow stream must not take it as whole.
    const sink = this.sink;
    this.sink = undefined;
    sink?.destroy(err);
    this.retry.failed(err);
  }

  private timing(): { durationMs: number; initMs?: number } {
    const durationMs = performance.now() - this.started;
    return this.initMs === undefined ? { durationMs } : { durationMs, initMs: this.initMs };
  }

  private finish(outcome: CallOutcome): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.route.load.end();
    this.resolve(outcome);
  }
}
