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

/**
 * The JSON error response for anything thrown while serving an invocation. Errors that are not
 * HttpErrors come from handler code: 500 with the message, and the stack only when `debug` is on.
 */
export function errorResponse(
  error: unknown,
  invocationId: string | undefined,
  debug: boolean,
): ErrorResponse {
  const id = invocationId === undefined ? {} : { invocationId };
  if (error instanceof HttpError) {
    return {
      statusCode: error.statusCode,
      headers: error.headers,
      body: { error: error.message, ...error.details, ...id },
    };
  }
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
