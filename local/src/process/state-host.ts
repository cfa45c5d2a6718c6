import type { StateOperation, StateReply } from '@nimbus/runtime-node';
import { errorInfo } from '@nimbus/runtime-node/state/state-errors';
import { type StateLimits, type StateStore, applyStateOperation } from '@nimbus/store';

/** The function a replica was spawned for: its state calls reach this key space and no other. */
export interface StateScope {
  namespace: string;
  name: string;
  /** The Function's own quota (spec.state.maxKeys, maxBytes) over the platform's. */
  limits?: Partial<StateLimits>;
}

const OPERATIONS = new Set(['get', 'set', 'delete', 'incr', 'compareAndSet']);

/**
 * Local mode's ctx.state: the supervisor holds the store (in memory, or Redis when local mode has
 * one), and every replica of a function asks it over IPC, so they share one key space as pods
 * do. Replicas hold no Redis credentials: the key space is the replica's own function (the scope
 * the supervisor spawned it with), whatever the message says, and the store enforces the value
 * size and the function's quotas exactly as it does behind the gateway's state service.
 */
export class StateHost {
  constructor(private readonly store: StateStore) {}

  /** The reply to a `state` message, or undefined when the message is not one (no id to answer). */
  async handle(scope: StateScope | undefined, message: unknown): Promise<StateReply | undefined> {
    if (message === null || typeof message !== 'object') return undefined;
    const request = message as { type?: unknown; id?: unknown; op?: unknown };
    if (request.type !== 'state' || !Number.isSafeInteger(request.id)) return undefined;
    const id = request.id as number;
    try {
      if (scope === undefined)
        throw named(
          'StateNotEnabledError',
          'function state is not enabled for this function (set spec.state.enabled: true)',
        );
      if (typeof request.op !== 'string' || !OPERATIONS.has(request.op))
        throw named('InvalidStateValueError', `unknown state operation ${JSON.stringify(request.op)}`);
      const result = await this.run(scope, message as StateOperation);
      return { type: 'state-result', id, ok: true, result };
    } catch (error) {
      return { type: 'state-result', id, ok: false, error: errorInfo(error) };
    }
  }

  private run(scope: StateScope, r: StateOperation): Promise<unknown> {
    return applyStateOperation(this.store.scoped(scope.namespace, scope.name, scope.limits), r);
  }
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
