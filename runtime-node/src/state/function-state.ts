import type { FunctionState, SetOptions, StateEntry } from '../contract.js';
import { InvalidStateValueError, StateNotEnabledError, toStateError } from './state-errors.js';

export { StateNotEnabledError } from './state-errors.js';

/**
 * What a state backend provides, in the shape of @nimbus/store's FunctionStateStore: the Redis
 * adapter and the supervisor's IPC client both fit it. TTLs in milliseconds; errors may be the
 * store's own, ctx.state turns them into the runtime's.
 */
export interface StatePort {
  get(key: string): Promise<StateEntry | undefined>;
  set(key: string, value: unknown, options?: { ttlMs?: number }): Promise<string>;
  delete(key: string): Promise<boolean>;
  incr(key: string, by?: number): Promise<number>;
  compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options?: { ttlMs?: number },
  ): Promise<{ ok: true; version: string } | { ok: false; currentVersion: string | null }>;
  /** Lets go of connections; later calls may open them again. */
  close(): Promise<void>;
}

/** ctx.state and what the runtime needs of it besides: closing it at shutdown. */
export interface ClosableFunctionState extends FunctionState {
  close(): Promise<void>;
}

/**
 * ctx.state for a function without state enabled: every call rejects with a clear error. A
 * backend-bound {@link PortFunctionState} takes its place when the environment names a backend.
 */
export class DisabledFunctionState implements ClosableFunctionState {
  get(): Promise<unknown> {
    return Promise.reject(new StateNotEnabledError());
  }

  getWithVersion(): Promise<StateEntry | undefined> {
    return Promise.reject(new StateNotEnabledError());
  }

  set(): Promise<string> {
    return Promise.reject(new StateNotEnabledError());
  }

  delete(): Promise<boolean> {
    return Promise.reject(new StateNotEnabledError());
  }

  incr(): Promise<number> {
    return Promise.reject(new StateNotEnabledError());
  }

  compareAndSet(): Promise<boolean> {
    return Promise.reject(new StateNotEnabledError());
  }

  async close(): Promise<void> {}
}

/**
 * ctx.state on a backend: the handler's options (ttlSeconds) become the port's (ttlMs), and
 * whatever the backend throws becomes one of the runtime's StateErrors, so an uncaught one
 * answers with a clear status and JSON body.
 */
export class PortFunctionState implements ClosableFunctionState {
  constructor(private readonly port: StatePort) {}

  async get(key: string): Promise<unknown> {
    return (await this.getWithVersion(key))?.value;
  }

  getWithVersion(key: string): Promise<StateEntry | undefined> {
    return this.call(() => this.port.get(key));
  }

  set(key: string, value: unknown, options?: SetOptions): Promise<string> {
    return this.call(() => this.port.set(key, value, writeOptions(key, options)));
  }

  delete(key: string): Promise<boolean> {
    return this.call(() => this.port.delete(key));
  }

  incr(key: string, by = 1): Promise<number> {
    return this.call(() => this.port.incr(key, by));
  }

  async compareAndSet(
    key: string,
    expectedVersion: string | null,
    value: unknown,
    options?: SetOptions,
  ): Promise<boolean> {
    const result = await this.call(() =>
      this.port.compareAndSet(key, expectedVersion, value, writeOptions(key, options)),
    );
    return result.ok;
  }

  close(): Promise<void> {
    return this.port.close();
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toStateError(error);
    }
  }
}

/** `{ ttlSeconds }` as the port's `{ ttlMs }`; refuses what is not a positive number of seconds. */
export function writeOptions(key: string, options: SetOptions | undefined): { ttlMs?: number } {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object')
    throw new InvalidStateValueError(`state key ${JSON.stringify(key)}: options must be an object`);
  const { ttlSeconds } = options;
  if (ttlSeconds === undefined) return {};
  const ttlMs = typeof ttlSeconds === 'number' ? Math.round(ttlSeconds * 1000) : Number.NaN;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new InvalidStateValueError(
      `state key ${JSON.stringify(key)}: ttlSeconds must be a positive number of seconds (at least 0.001), got ${String(ttlSeconds)}`,
    );
  return { ttlMs };
}
