import { type FunctionStateStore, type StateOperation, applyStateOperation } from '@nimbus/store';

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
  // The fields were checked against the operation where the request was read.
  return applyStateOperation(state, { ...body, op } as StateOperation);
}
