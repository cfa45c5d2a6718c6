import { errorMessage } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { Handler } from '../contract.js';
import { HandlerUnavailableError } from '../http/http-errors.js';
import type { HandlerStatus } from '../metrics/runtime-metrics.js';
import { TOKENS } from '../tokens.js';
import type { HandlerLoader } from './handler-loader.js';

export type LoadState =
  | { readonly status: 'loading' }
  | { readonly status: 'ready'; readonly handler: Handler }
  | { readonly status: 'failed'; readonly reason: string; readonly error: unknown };

/** Holds the handler once loaded, and lets invocations that arrive earlier wait for it. */
@injectable()
export class HandlerSlot implements HandlerStatus {
  private current: LoadState = { status: 'loading' };
  private loading: Promise<Handler> | undefined;

  constructor(@inject(TOKENS.HandlerLoader) private readonly loader: HandlerLoader) {}

  get state(): LoadState {
    return this.current;
  }

  get loaded(): boolean {
    return this.current.status === 'ready';
  }

  /** The handler once loaded, else `undefined`: lets an invocation skip awaiting `handler()`. */
  get loadedHandler(): Handler | undefined {
    return this.current.status === 'ready' ? this.current.handler : undefined;
  }

  /** Starts loading once; resolves to the final state and never rejects. */
  async load(): Promise<LoadState> {
    this.loading ??= this.loader.load();
    try {
      const handler = await this.loading;
      this.current = { status: 'ready', handler };
    } catch (error) {
      this.current = { status: 'failed', reason: errorMessage(error), error };
    }
    return this.current;
  }

  /** The handler, waiting for the load if it is still running; a 503 error if it failed. */
  async handler(): Promise<Handler> {
    const state = this.current.status === 'loading' ? await this.load() : this.current;
    if (state.status === 'ready') return state.handler;
    if (state.status === 'failed') throw new HandlerUnavailableError(state.reason);
    throw new Error('handler load settled without a result');
  }
}
