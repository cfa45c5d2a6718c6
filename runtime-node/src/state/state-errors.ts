import { HttpError } from '../http/http-errors.js';

/**
 * What ctx.state rejects with. Each is an HttpError, so one the handler does not catch answers
 * with its status and a JSON body naming the problem (`code`), never a stack. Handlers tell them
 * apart by `name` (they cannot import the runtime's classes); names are spelled out, since a
 * bundler may rename a class that shares its name with one of the store's.
 */
export abstract class StateError extends HttpError {
  constructor(
    statusCode: number,
    readonly code: string,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(statusCode, message, { code, ...details }, options);
  }
}

/** The store cannot be reached now (Redis down, the supervisor gone or slow): worth a retry later. */
export class StateUnavailableError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(503, 'StateUnavailable', message, {}, options);
    this.name = 'StateUnavailableError';
  }

  override get headers(): Readonly<Record<string, string>> {
    return { 'retry-after': '1' };
  }
}

export class StateValueTooLargeError extends StateError {
  constructor(
    message: string,
    readonly limit: number | undefined,
    options?: ErrorOptions,
  ) {
    super(413, 'StateValueTooLarge', message, limit === undefined ? {} : { limit }, options);
    this.name = 'StateValueTooLargeError';
  }
}

export class InvalidStateKeyError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(400, 'InvalidStateKey', message, {}, options);
    this.name = 'InvalidStateKeyError';
  }
}

/** Not plain JSON, or an option (ttlSeconds, incr's amount, a version) out of range. */
export class InvalidStateValueError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(400, 'InvalidStateValue', message, {}, options);
    this.name = 'InvalidStateValueError';
  }
}

/** The write would take the function past its state quota (maxKeys or maxBytes); nothing was written. */
export class StateQuotaExceededError extends StateError {
  constructor(message: string, limit: number | undefined, options?: ErrorOptions) {
    super(507, 'StateQuotaExceeded', message, limit === undefined ? {} : { limit }, options);
    this.name = 'StateQuotaExceededError';
  }
}

/** Redis is at its maxmemory and refuses writes, for every function; reads and deletes still work. */
export class StateStoreFullError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(507, 'StateStoreFull', message, {}, options);
    this.name = 'StateStoreFullError';
  }
}

/** incr met a stored value that is not a safe integer, or would leave the safe-integer range. */
export class StateNotAnIntegerError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(409, 'StateNotAnInteger', message, {}, options);
    this.name = 'StateNotAnIntegerError';
  }
}

/** The store said no for a reason that is neither availability nor input (Redis NOPERM, say). */
export class StateRefusedError extends StateError {
  constructor(message: string, options?: ErrorOptions) {
    super(500, 'StateRefused', message, {}, options);
    this.name = 'StateRefusedError';
  }
}

export class StateNotEnabledError extends StateError {
  constructor() {
    super(
      500,
      'StateNotEnabled',
      'function state is not enabled for this function (set spec.state.enabled: true)',
    );
    this.name = 'StateNotEnabledError';
  }
}

/** An error as it crosses a process boundary: its class name, message and the limit when there is one. */
export interface StateErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly limit?: number;
}

/** An error the store's owner (the supervisor or the gateway's state service) answered, by name, for toStateError. */
export class RemoteStateError extends Error {
  readonly limit: number | undefined;

  constructor(info: StateErrorInfo) {
    super(info.message);
    this.name = info.name;
    this.limit = info.limit;
  }
}

/**
 * The runtime's StateError for what a store adapter threw (an Error from @nimbus/store) or what
 * the supervisor answered (a StateErrorInfo). Told apart by name, not class: the Redis adapter is
 * loaded from a bundle of its own, with its own copies of the store's classes.
 */
export function toStateError(error: unknown): StateError {
  if (error instanceof StateError) return error;
  const info = errorInfo(error);
  const options = error instanceof Error ? { cause: error } : undefined;
  switch (info.name) {
    case 'StateUnavailableError':
    case 'StoreUnavailableError':
      return new StateUnavailableError(info.message, options);
    case 'StateValueTooLargeError':
      return new StateValueTooLargeError(info.message, info.limit, options);
    case 'InvalidStateKeyError':
      return new InvalidStateKeyError(info.message, options);
    case 'InvalidStateValueError':
    case 'InvalidStoreInputError':
      return new InvalidStateValueError(info.message, options);
    case 'StateNotAnIntegerError':
      return new StateNotAnIntegerError(info.message, options);
    case 'StateQuotaExceededError':
      return new StateQuotaExceededError(info.message, info.limit, options);
    case 'StateStoreFullError':
      return new StateStoreFullError(info.message, options);
    case 'StateNotEnabledError':
      return new StateNotEnabledError();
    default:
      return new StateRefusedError(`function state failed: ${info.message}`, options);
  }
}

/** The part of an error that can be sent over IPC. */
export function errorInfo(error: unknown): StateErrorInfo {
  if (error === null || typeof error !== 'object') return { name: 'Error', message: String(error) };
  const { name, message, limit } = error as { name?: unknown; message?: unknown; limit?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : String(error),
    ...(typeof limit === 'number' ? { limit } : {}),
  };
}
