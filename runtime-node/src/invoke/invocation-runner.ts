import type { Clock } from '@nimbus/api/clock';
import type { Logger } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import type { FunctionContext, FunctionEvent, Handler } from '../contract.js';
import { FunctionTimeoutError, HttpError, QueueFullError } from '../http/http-errors.js';
import { StateError } from '../state/state-errors.js';
import { TOKENS } from '../tokens.js';
import type { Cancellation } from './cancellation.js';
import type { Permit } from './concurrency-limiter.js';
import type { InvocationInfo } from './context.js';
import type { InvocationSpans, OpenSpan } from './invocation-spans.js';
import { type MaybePromise, isPromiseLike } from './maybe-async.js';
import { type ResponseSpec, mapHandlerResult } from './response-mapping.js';

/** The ports the runner needs, declared here so tests can pass small fakes. */
export interface SlotLimiter {
  tryAcquire(): Permit | undefined;
  acquire(cancellation: Cancellation): Promise<Permit> | undefined;
}

export interface HandlerSource {
  /** The handler if it is loaded already. */
  readonly loadedHandler: Handler | undefined;
  handler(): Promise<Handler>;
}

export interface ContextSource {
  create(info: InvocationInfo): FunctionContext;
}

export interface InvocationRequest {
  readonly invocationId: string;
  readonly traceparent: string | undefined;
  /** The invocation's span recorder and its server span, when the gateway asked for spans. */
  readonly spans?: InvocationSpans | undefined;
  readonly span?: OpenSpan | undefined;
  /**
   * Cancelled by the caller with a ClientDisconnectedError when the client goes away; the runner
   * cancels it at the deadline. It becomes the handler's `ctx.signal`.
   */
  readonly cancellation: Cancellation;
  /** Reads and parses the request, stopping if it is cancelled; may throw an HttpError (400, 413). */
  readEvent(): MaybePromise<FunctionEvent>;
}

export type InvocationOutcome =
  | { readonly kind: 'response'; readonly response: ResponseSpec }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'disconnected' };

export class ClientDisconnectedError extends Error {
  constructor() {
    super('client disconnected before the response was sent');
    this.name = 'ClientDisconnectedError';
  }
}

/** The slot an invocation holds, and whether the invocation has ended (a late grant is handed back). */
interface SlotHold {
  permit: Permit | undefined;
  ended: boolean;
}

/**
 * One invocation from arrival to outcome: read the event, wait for the handler, take a concurrency
 * slot (or queue, or 429), call the handler, map its result. The deadline runs from arrival, so time
 * spent reading the body, waiting for the handler to load and queueing all count toward it.
 */
@injectable()
export class InvocationRunner {
  private readonly timeoutMs: number;

  constructor(
    @inject(TOKENS.Config) config: Pick<RuntimeConfig, 'timeoutMs'>,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Limiter) private readonly limiter: SlotLimiter,
    @inject(TOKENS.HandlerSlot) private readonly handlers: HandlerSource,
    @inject(TOKENS.ContextFactory) private readonly contexts: ContextSource,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {
    this.timeoutMs = config.timeoutMs;
  }

  async run(request: InvocationRequest): Promise<InvocationOutcome> {
    const { invocationId, cancellation } = request;
    const deadline = this.clock.now() + this.timeoutMs;
    const timer = this.clock.setTimeout(
      () => cancellation.abort(new FunctionTimeoutError(this.timeoutMs)),
      this.timeoutMs,
    );
    const hold: SlotHold = { permit: undefined, ended: false };
    let work: unknown;
    try {
      work = this.start(request, deadline, hold);
      const value = isPromiseLike(work) ? await untilCancelled(work, cancellation) : work;
      return { kind: 'response', response: mapHandlerResult(value) };
    } catch (error) {
      return this.outcomeOf(error, cancellation, invocationId);
    } finally {
      hold.ended = true;
      this.clock.clearTimeout(timer);
      // Released as soon as the invocation ends, even on timeout while the handler still runs:
      // JavaScript cannot stop it, and holding the slot until it returns would let a handler that
      // never returns take the replica out of service. ctx.signal tells the handler to stop.
      hold.permit?.release();
      if (cancellation.aborted && isPromiseLike(work)) this.reportLateFailure(work, invocationId);
    }
  }

  /**
   * Calls the handler and returns what it returned. Synchronous when nothing needs waiting for
   * (event read, handler loaded, slot free), which is most requests; otherwise a promise.
   */
  private start(request: InvocationRequest, deadline: number, hold: SlotHold): unknown {
    const event = request.readEvent();
    const handler = this.handlers.loadedHandler;
    if (handler !== undefined && !isPromiseLike(event)) {
      hold.permit = this.limiter.tryAcquire();
      if (hold.permit !== undefined) return this.call(handler, event, request, deadline);
    }
    return this.startWhenReady(event, request, deadline, hold);
  }

  private async startWhenReady(
    pendingEvent: MaybePromise<FunctionEvent>,
    request: InvocationRequest,
    deadline: number,
    hold: SlotHold,
  ): Promise<unknown> {
    const { cancellation, spans, span } = request;
    const event = await pendingEvent;
    // The first request of a replica waits for its handler to load: a part of the cold start.
    const loading =
      this.handlers.loadedHandler === undefined ? spans?.start('load handler', 'internal', span) : undefined;
    const handler = await this.handlers.handler().finally(() => loading?.end());
    cancellation.throwIfAborted();
    const permit = this.limiter.tryAcquire() ?? (await this.queueForSlot(request));
    hold.permit = permit;
    // The race in run() may already have ended the invocation while the slot was being granted.
    if (hold.ended) permit.release();
    cancellation.throwIfAborted();
    return this.call(handler, event, request, deadline);
  }

  /** Every slot is taken: wait in the replica's queue (or 429 when it is full). */
  private async queueForSlot(request: InvocationRequest): Promise<Permit> {
    const acquired = this.limiter.acquire(request.cancellation);
    if (acquired === undefined) throw new QueueFullError();
    const queued = request.spans?.start('wait for a slot', 'internal', request.span);
    return await acquired.finally(() => queued?.end());
  }

  private call(
    handler: Handler,
    event: FunctionEvent,
    request: InvocationRequest,
    deadline: number,
  ): unknown {
    const { invocationId, cancellation, traceparent, spans, span } = request;
    const trace = spans !== undefined && span !== undefined ? { spans, parent: span } : undefined;
    return handler(event, this.contexts.create({ invocationId, deadline, cancellation, traceparent, trace }));
  }

  private outcomeOf(error: unknown, cancellation: Cancellation, invocationId: string): InvocationOutcome {
    const log = this.logger.child({ invocationId });
    if (cancellation.aborted && error === cancellation.reason) {
      if (error instanceof ClientDisconnectedError) {
        log.info('client disconnected; invocation abandoned');
        return { kind: 'disconnected' };
      }
      log.warn('function timed out', { timeoutMs: this.timeoutMs });
      return { kind: 'failed', error };
    }
    if (error instanceof StateError) {
      // A handler that let a ctx.state failure through: worth seeing whatever its status.
      log.warn('state call failed', {
        statusCode: error.statusCode,
        code: error.code,
        reason: error.message,
      });
    } else if (error instanceof HttpError && error.statusCode < 500) {
      log.debug('request refused', { statusCode: error.statusCode, reason: error.message });
    } else if (!(error instanceof HttpError) || error.statusCode === 500) {
      log.error('handler failed', { error: error instanceof Error ? error : String(error) });
    }
    return { kind: 'failed', error };
  }

  /** After a timeout or disconnect the handler's result is discarded, but a late failure is still worth a line. */
  private reportLateFailure(work: PromiseLike<unknown>, invocationId: string): void {
    Promise.resolve(work).catch((error: unknown) => {
      if (error instanceof FunctionTimeoutError || error instanceof ClientDisconnectedError) return;
      this.logger.child({ invocationId }).warn('handler failed after its invocation had ended', {
        error: error instanceof Error ? error : String(error),
      });
    });
  }
}

/** `work`'s result, or a rejection with the cancellation's reason as soon as it is cancelled. */
function untilCancelled<T>(work: PromiseLike<T>, cancellation: Cancellation): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (cancellation.aborted) reject(cancellation.reason);
    // Never removed: the cancellation goes with the invocation, and rejecting a settled promise is a no-op.
    else cancellation.onAbort(() => reject(cancellation.reason));
    work.then(resolve, reject);
  });
}
