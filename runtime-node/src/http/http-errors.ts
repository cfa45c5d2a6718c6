/**
 * Every error the runtime answers with, and the one place that turns an error into an HTTP status
 * and a JSON body `{ "error": "...", ... }`.
 */

export interface ErrorResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Record<string, unknown>;
}

/** An error with a status of its own and extra body fields. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Headers beyond content-type, e.g. Retry-After. */
  get headers(): Readonly<Record<string, string>> {
    return {};
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(400, message, details, options);
  }
}

export class PayloadTooLargeError extends HttpError {
  constructor(limit: number) {
    super(413, `request body exceeds the limit of ${limit} bytes (NIMBUS_MAX_BODY_BYTES)`, { limit });
  }
}

export class QueueFullError extends HttpError {
  constructor() {
    super(429, 'too many concurrent requests for this replica; retry later');
  }

  override get headers(): Readonly<Record<string, string>> {
    return { 'retry-after': '1' };
  }
}

/** The handler failed to load; every invocation gets 503 with the reason until the replica is replaced. */
export class HandlerUnavailableError extends HttpError {
  constructor(readonly reason: string) {
    super(503, `function is not available: ${reason}`, { reason });
  }
}

export const NOT_SPECIALISED = 'generic pool replica: not specialised';

/** A generic pool replica has no function yet; the caller should not have routed here. */
export class NotSpecialisedError extends HttpError {
  constructor() {
    super(503, NOT_SPECIALISED, { code: 'NotSpecialised' });
  }
}

/** `POST /_/specialise` without the Bearer token NIMBUS_POOL_TOKEN asks for. */
export class UnauthorizedError extends HttpError {
  constructor(message: string) {
    super(401, message);
  }

  override get headers(): Readonly<Record<string, string>> {
    return { 'www-authenticate': 'Bearer' };
  }
}

export class ForbiddenError extends HttpError {
  constructor(message: string) {
    super(403, message);
  }
}

export class MethodNotAllowedError extends HttpError {
  constructor(private readonly allow: string) {
    super(405, `method not allowed; use ${allow}`);
  }

  override get headers(): Readonly<Record<string, string>> {
    return { allow: this.allow };
  }
}

/** A request that contradicts the replica's state, e.g. a second specialise. */
export class ConflictError extends HttpError {
  constructor(message: string) {
    super(409, message);
  }
}

export class FunctionTimeoutError extends HttpError {
  constructor(timeoutMs: number) {
    super(504, `function timed out after ${timeoutMs}ms`);
  }
}

/** The handler's return value cannot be turned into a response. */
export class InvalidResultError extends HttpError {
  constructor(message: string, options?: ErrorOptions) {
    super(500, message, {}, options);
  }
}

/** The generic answers with `detail: none`; the log line under the same invocation id has the rest. */
export const HIDDEN_FAILURE = 'the function failed; its log has the error under this invocationId';
export const HIDDEN_LOAD_FAILURE =
  "the function is not available: its handler failed to load; the replica's log has the reason";

/**
 * The JSON error response for anything thrown while serving an invocation. Errors that are not
 * HttpErrors come from handler code, and so does a load failure's reason: their text may hold
 * anything the code had at hand (a connection string, a token), so with `detail: none` the caller
 * gets a generic message and the invocation id to find the log line by. The runtime's own refusals
 * (4xx, a timeout, a full queue) say only what the caller sent or how long it took, and stay as
 * they are. `debug` (NIMBUS_DEBUG) adds the stack to a `full` answer. The platform's own callers
 * (the controller specialising a pool replica) keep the default, `full`.
 */
export function errorResponse(
  error: unknown,
  invocationId: string | undefined,
  debug: boolean,
  detail: 'full' | 'none' = 'full',
): ErrorResponse {
  const id = invocationId === undefined ? {} : { invocationId };
  const hide = detail === 'none';
  if (error instanceof HandlerUnavailableError && hide) {
    return {
      statusCode: error.statusCode,
      headers: error.headers,
      body: { error: HIDDEN_LOAD_FAILURE, code: 'HandlerUnavailable', ...id },
    };
  }
  if (error instanceof HttpError && !(error instanceof InvalidResultError && hide)) {
    return {
      statusCode: error.statusCode,
      headers: error.headers,
      body: { error: error.message, ...error.details, ...id },
    };
  }
  if (hide)
    return { statusCode: 500, headers: {}, body: { error: HIDDEN_FAILURE, code: 'FunctionError', ...id } };
  const message =
    error instanceof Error ? error.message : `handler threw a non-Error value: ${safeString(error)}`;
  const stack = debug && error instanceof Error && error.stack ? { stack: error.stack } : {};
  return { statusCode: 500, headers: {}, body: { error: message, ...id, ...stack } };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    // e.g. an object without a prototype has no toString.
    return Object.prototype.toString.call(value);
  }
}
