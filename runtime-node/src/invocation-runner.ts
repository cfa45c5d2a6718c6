import { inject, injectable } from 'tsyringe';
import type { Clock } from './clock.js';
import type { Permit } from './concurrency-limiter.js';
import type { RuntimeConfig } from './config.js';
import type { InvocationInfo } from './context.js';
import type { FunctionContext, FunctionEvent, Handler } from './contract.js';
import { FunctionTimeoutError, HttpError, QueueFullError } from './http-errors.js';
import type { Logger } from './logger.js';
import { type ResponseSpec, mapHandlerResult } from './response-mapping.js';
import { TOKENS } from './tokens.js';

/** The ports the runner needs, declared here so tests can pass small fakes. */
export interface SlotLimiter {
  acquire(signal: AbortSignal): Promise<Permit> | undefined;
}

export interface HandlerSource {
  handler(): Promise<Handler>;
}

export interface ContextSource {
  create(info: InvocationInfo): FunctionContext;
}

export interface InvocationRequest {
  readonly invocationId: string;
  readonly traceparent: string | undefined;
  /** Aborts when the client goes away. */
  readonly clientSignal: AbortSignal;
  /** Reads and parses the request; may throw an HttpError (400, 413). */
  readEvent(signal: AbortSignal): Promise<FunctionEvent>;
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
    const { invocationId, clientSignal } = request;
    const deadline = this.clock.now() + this.timeoutMs;
    const controller = new AbortController();
    const signal = controller.signal;
    const onClientGone = () => controller.abort(new ClientDisconnectedError());
    if (clientSignal.aborted) onClientGone();
    else clientSignal.addEventListener('abort', onClientGone, { once: true });
    const timer = this.clock.setTimeout(
      () => controller.abort(new FunctionTimeoutError(this.timeoutMs)),
      this.timeoutMs,
    );

    let permit: Permit | undefined;
    let finished = false;
    const work = (async () => {
      const event = await request.readEvent(signal);
      const handler = await this.handlers.handler();
      signal.throwIfAborted();
      const acquired = this.limiter.acquire(signal);
      if (acquired === undefined) throw new QueueFullError();
      permit = await acquired;
      // The race below may already have ended the invocation while the slot was being granted.
      if (finished) permit.release();
      signal.throwIfAborted();
      const ctx = this.contexts.create({ invocationId, deadline, signal, traceparent: request.traceparent });
      return handler(event, ctx);
    })();

    try {
      const value = await untilAborted(work, signal);
      return { kind: 'response', response: mapHandlerResult(value) };
    } catch (error) {
      return this.outcomeOf(error, signal, invocationId);
    } finally {
      finished = true;
      this.clock.clearTimeout(timer);
      clientSignal.removeEventListener('abort', onClientGone);
      // Released as soon as the invocation ends, even on timeout while the handler still runs:
      // JavaScript cannot stop it, and holding the slot until it returns would let a handler that
      // never returns take the replica out of service. ctx.signal tells the handler to stop.
      permit?.release();
      if (signal.aborted) this.reportLateFailure(work, invocationId);
    }
  }

  private outcomeOf(error: unknown, signal: AbortSignal, invocationId: string): InvocationOutcome {
    const log = this.logger.child({ invocationId });
    if (signal.aborted && error === signal.reason) {
      if (error instanceof ClientDisconnectedError) {
        log.info('client disconnected; invocation abandoned');
        return { kind: 'disconnected' };
      }
      log.warn('function timed out', { timeoutMs: this.timeoutMs });
      return { kind: 'failed', error };
    }
    if (error instanceof HttpError && error.statusCode < 500) {
      log.debug('request refused', { statusCode: error.statusCode, reason: error.message });
    } else if (!(error instanceof HttpError) || error.statusCode === 500) {
      log.error('handler failed', { error: error instanceof Error ? error : String(error) });
    }
    return { kind: 'failed', error };
  }

  /** After a timeout or disconnect the handler's result is discarded, but a late failure is still worth a line. */
  private reportLateFailure(work: Promise<unknown>, invocationId: string): void {
    work.catch((error: unknown) => {
      if (error instanceof FunctionTimeoutError || error instanceof ClientDisconnectedError) return;
      this.logger.child({ invocationId }).warn('handler failed after its invocation had ended', {
        error: error instanceof Error ? error : String(error),
      });
    });
  }
}

/** `work`'s result, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
