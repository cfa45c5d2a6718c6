import type { FunctionState } from './contract.js';

export class StateNotEnabledError extends Error {
  constructor() {
    super('function state is not enabled for this function (spec.state.enabled)');
    this.name = 'StateNotEnabledError';
  }
}

/**
 * ctx.state for a function without state enabled: every call rejects with a clear error. A
 * Redis-backed FunctionState is registered in its place (TOKENS.StateStore) once state exists.
 */
export class DisabledFunctionState implements FunctionState {
  get(): Promise<unknown> {
    return Promise.reject(new StateNotEnabledError());
  }

  set(): Promise<void> {
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
}
