import type { FunctionStateStore, JsonValue } from '@nimbus/store';

/** The fixed operations of ctx.state, and nothing else: a function cannot send Redis a command or a script. */
export const STATE_OPERATIONS = ['get', 'set', 'delete', 'incr', 'compareAndSet'] as const;
export type StateOperationName = (typeof STATE_OPERATIONS)[number];

export function isStateOperation(op: string): op is StateOperationName {
  return (STATE_OPERATIONS as readonly string[]).includes(op);
}

/**
 * Runs one operation from a request body on the function's own key space. The store checks the
 * key, value, TTL and amount (and refuses what is wrong by name); here only the body's shape.
 */
export function runStateOperation(
  state: FunctionStateStore,
  op: StateOperationName,
  body: Record<string, unknown>,
): Promise<unknown> {
  const key = body.key as string;
  const options = body.ttlMs === undefined ? {} : { ttlMs: body.ttlMs as number };
  switch (op) {
    case 'get':
      return state.get(key);
    case 'set':
      return state.set(key, body.value as JsonValue, options);
    case 'delete':
      return state.delete(key);
    case 'incr':
      return state.incr(key, body.by === undefined ? 1 : (body.by as number));
    case 'compareAndSet':
      return state.compareAndSet(
        key,
        body.expectedVersion as string | null,
        body.value as JsonValue,
        options,
      );
  }
}

/** The status a store error answers with; the body carries its name as `code`. */
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
