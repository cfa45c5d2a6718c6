import type { JsonValue } from './json-value.js';
import type { FunctionStateStore } from './state-store.js';

/**
 * One ctx.state call as it travels: from a replica to local mode's supervisor over IPC, or to
 * the gateway's state service over HTTP. Checked where it arrives; run here, one way for all.
 */
export type StateOperation =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: unknown; readonly ttlMs?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'incr'; readonly key: string; readonly by?: number }
  | {
      readonly op: 'compareAndSet';
      readonly key: string;
      readonly expectedVersion: string | null;
      readonly value: unknown;
      readonly ttlMs?: number;
    };

/** Runs the operation on one function's key space and resolves the store's result. */
export function applyStateOperation(state: FunctionStateStore, r: StateOperation): Promise<unknown> {
  const options = (ttlMs: number | undefined) => (ttlMs === undefined ? {} : { ttlMs });
  switch (r.op) {
    case 'get':
      return state.get(r.key);
    case 'set':
      return state.set(r.key, r.value as JsonValue, options(r.ttlMs));
    case 'delete':
      return state.delete(r.key);
    case 'incr':
      return state.incr(r.key, r.by);
    case 'compareAndSet':
      return state.compareAndSet(r.key, r.expectedVersion, r.value as JsonValue, options(r.ttlMs));
  }
}

/**
 * The HTTP status a store error answers with over the state service (its body carries the
 * error's name as `code`): the gateway's answer, and the one a test's stand-in gives.
 */
export function stateErrorStatus(name: string): number {
  switch (name) {
    case 'InvalidStateKeyError':
    case 'InvalidStateValueError':
    case 'InvalidStoreInputError':
      return 400;
    case 'StateNotAnIntegerError':
      return 409;
    case 'StateValueTooLargeError':
      return 413;
    case 'StateQuotaExceededError':
    case 'StateStoreFullError':
      return 507;
    case 'StateUnavailableError':
    case 'StoreUnavailableError':
      return 503;
    default:
      return 500;
  }
}
