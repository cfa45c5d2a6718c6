import type { Readable } from 'node:stream';
import { type Clock, type Logger, backoffDelay, sleep, systemClock } from '@nimbus/api';
import type { CallStore } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import { Agent, type Dispatcher, RetryAgent, type RetryHandler, buildConnector, errors } from 'undici';
import { EgressGuard, EgressRefusedError } from '../egress/egress-guard.js';
import { parseEgressUrl } from '../egress/egress-policy.js';
import { type AsyncConfig, CALLBACK_RETRY_BASE_MS } from './async-config.js';
import { CallbackSpan } from './callback-span.js';

/** What a finished call's callback carries. */
export interface CallbackResult {
  readonly url: string;
  readonly callId: string;
  readonly outcome: 'succeeded' | 'failed';
  /** The function's status code, or the gateway's when no replica answered. */
  readonly functionStatus: number;
  readonly durationMs: number;
  readonly contentType: string | undefined;
  /**
   * The answer in hand, or a stream of a large one as it comes from the replica (never held
   * whole). A stream is sent again only while none of it has gone out (undici's RetryHandler
   * refuses to replay a body it has started reading); after that, a failure gives it up.
   */
  readonly body: Uint8Array | Readable;
  /** The answer's whole size, when `body` is only its first bytes (the record's limit). */
  readonly truncatedFrom?: number;
  /** The call's trace context (its enqueue span): the callback's span is its child. */
  readonly traceContext?: Readonly<Record<string, string>>;
}

export interface CallbackOptions {
  /** Waits between attempts; systemClock's timers are unref'd. */
  readonly clock?: Clock;
  /** The first wait; each next one doubles (default CALLBACK_RETRY_BASE_MS). */
  readonly retryBaseMs?: number;
  /**
   * Where callbacks may connect (NIMBUS_EGRESS_ALLOW and the platform's own endpoints). Default:
   * public addresses only, the strictest policy, for a sender built without one.
   */
  readonly egress?: EgressGuard;
  /**
   * Where a given-up callback is noted (the call record's `callbackError`), so an admin reading
   * the record learns why the callback never came; without it, only the log says.
   */
  readonly records?: Pick<CallStore, 'transition'>;
  /**
   * With a tracer, each callback is a client span under its call's enqueue span, and the receiver
   * gets it as its `traceparent`, so a caller's trace goes on into its own receiver.
   */
  readonly tracing?: Tracing;
}

/** A callback is given up after the record is finished, or, for a streamed answer, while it still runs. */
const CALLBACK_NOTED_FROM = ['running', 'succeeded', 'failed'] as const;

const PUBLIC_ONLY = new EgressGuard({
  config: { allow: [] },
  platform: () => ({ endpoints: [], localPorts: new Set() }),
});

/**
 * The receiver's answers worth sending again: its own trouble (408, 429, 5xx), not a refusal of
 * what we sent. Any other status is handed back at once; failing to reach it at all is retried.
 */
const RETRIED_STATUSES = [408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

/**
 * POSTs results to the callers' `X-Callback-Url`s, after the call is recorded and acknowledged, so
 * a failing receiver can never make the function run again. A few attempts with doubling waits
 * (NIMBUS_CALLBACK_ATTEMPTS, NIMBUS_CALLBACK_TIMEOUT_MS each), then it is given up, logged, and
 * why is noted in the record (`callbackError`); the record at GET /system/calls/{id} keeps the
 * result either way.
 *
 * undici's RetryAgent sends again and sorts the answers (RETRIED_STATUSES); the `retry` hook only
 * decides whether to go on and waits, on the injected Clock and cut short by close(), which
 * undici's own wait (a plain setTimeout) could not be. Unlike undici's, it ignores Retry-After.
 *
 * Every connection goes through the egress guard's connector, which resolves the name once,
 * refuses platform, metadata and private addresses (unless NIMBUS_EGRESS_ALLOW allows them) and
 * connects to the very address it checked, so DNS rebinding cannot slip past. A refused callback
 * is given up at once, not retried, and the refusal is what the record notes. Redirects are not followed: undici's dispatcher does not
 * without a redirect interceptor, so a 3xx is an answer like any other non-2xx.
 */
export class CallbackSender {
  private readonly agent: Dispatcher;
  private readonly pending = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private readonly clock: Clock;
  private closed: Promise<void> | undefined;
  private readonly records: Pick<CallStore, 'transition'> | undefined;
  private readonly tracing: Tracing | undefined;

  constructor(
    private readonly config: Pick<AsyncConfig, 'callbackAttempts' | 'callbackTimeoutMs'>,
    private readonly log: Logger,
    timing: CallbackOptions = {},
  ) {
    this.records = timing.records;
    this.tracing = timing.tracing;
    this.clock = timing.clock ?? systemClock;
    // With a `retry` of its own, undici reads only statusCodes; the hook reads maxRetries and minTimeout.
    const retryOptions: RetryHandler.RetryOptions = {
      maxRetries: config.callbackAttempts - 1,
      minTimeout: timing.retryBaseMs ?? CALLBACK_RETRY_BASE_MS,
      statusCodes: RETRIED_STATUSES,
      retry: (err, { state, opts }, next) => this.retry(err, state.counter, opts.retryOptions, next),
    };
    const egress = timing.egress ?? PUBLIC_ONLY;
    this.agent = new RetryAgent(
      new Agent({ connections: 64, connect: egress.connector(buildConnector({})) }),
      retryOptions,
    );
  }

  /** Sends in the background; never throws. */
  send(result: CallbackResult): void {
    if (this.closing.signal.aborted) {
      // Its writer must not wait for a reader that will never come.
      if (!(result.body instanceof Uint8Array)) result.body.destroy();
      return;
    }
    const sending = this.deliver(result).finally(() => this.pending.delete(sending));
    this.pending.add(sending);
  }

  private async deliver(result: CallbackResult): Promise<void> {
    const headers: Record<string, string> = {
      'x-call-id': result.callId,
      'x-call-status': result.outcome,
      'x-function-status': String(result.functionStatus),
      'x-duration-seconds': (result.durationMs / 1000).toFixed(6),
    };
    if (result.contentType !== undefined) headers['content-type'] = result.contentType;
    if (result.truncatedFrom !== undefined) {
      headers['x-result-truncated'] = 'true';
      headers['x-result-size'] = String(result.truncatedFrom);
    }
    const span = CallbackSpan.start(this.tracing, result, headers);
    let error: string | undefined;
    try {
      // A call message can carry a URL the front door never saw (one published straight to NATS).
      const target = parseEgressUrl(result.url);
      if ('refused' in target) throw new EgressRefusedError(`refused: ${target.refused}`);
      const { url } = target;
      span?.sending(url);
      const response = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers,
        body: result.body,
        // Per attempt: each retry is dispatched with these options again.
        headersTimeout: this.config.callbackTimeoutMs,
        bodyTimeout: this.config.callbackTimeoutMs,
      });
      await response.body.dump();
      span?.answered(response.statusCode);
      if (response.statusCode < 200 || response.statusCode >= 300)
        error = `the receiver answered ${response.statusCode}`;
    } catch (err) {
      error =
        err instanceof errors.RequestRetryError
          ? `the receiver answered ${err.statusCode}`
          : err instanceof EgressRefusedError
            ? err.message
            : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      if (err instanceof errors.RequestRetryError) span?.answered(err.statusCode);
    } finally {
      // A stream the request did not read to its end (given up, refused, or answered early) is
      // closed, so its writer drops the rest of the answer instead of waiting.
      if (!(result.body instanceof Uint8Array)) result.body.destroy();
    }
    span?.end(error);
    if (error === undefined) return;
    this.log.warn('gave up on a callback; the result stays in the call record', {
      callId: result.callId,
      url: redact(result.url),
      error,
    });
    await this.note(result.callId, error);
  }

  /** Writes why the callback never arrived into the call record; a failure to is only logged. */
  private async note(callId: string, error: string): Promise<void> {
    if (this.records === undefined) return;
    try {
      await this.records.transition(callId, CALLBACK_NOTED_FROM, { callbackError: error });
    } catch (err) {
      this.log.warn('could not note a given-up callback in its call record', {
        callId,
        err: (err as Error).message,
      });
    }
  }

  /**
   * After failed attempt number `attempts`: another one after minTimeout·2^(attempts-1), unless
   * the attempts are spent or the sender is closing. Any failure to reach the receiver counts.
   */
  private retry(
    err: Error,
    attempts: number,
    options: RetryHandler.RetryOptions | undefined,
    next: RetryHandler.OnRetryCallback,
  ): void {
    const { maxRetries = 0, minTimeout = CALLBACK_RETRY_BASE_MS } = options ?? {};
    // A refused destination stays refused: no retry storm against it.
    if (attempts > maxRetries || this.closing.signal.aborted || err instanceof EgressRefusedError) {
      next(err);
      return;
    }
    // NIMBUS_CALLBACK_ATTEMPTS (at most 10) bounds the longest wait: 128 s at the default base.
    const delay = backoffDelay({ baseMs: minTimeout, maxMs: Number.POSITIVE_INFINITY }, attempts);
    void sleep(this.clock, delay, this.closing.signal).then((waited) => next(waited ? null : err));
  }

  /** Sends nothing more: waits for callbacks on the wire, drops the ones waiting for a retry. */
  close(): Promise<void> {
    // Once: undici refuses to close an agent twice.
    this.closed ??= (async () => {
      this.closing.abort();
      await Promise.all([...this.pending]);
      await this.agent.close();
    })();
    return this.closed;
  }
}

/** The URL without credentials or query, for logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'an unparsable URL';
  }
}

/**
 * An http(s) URL without credentials, as far as that can be told without DNS; the egress guard
 * decides where it may go.
 */
export function isCallbackUrl(text: string): boolean {
  return !('refused' in parseEgressUrl(text));
}
