/** A field the API server named in its refusal. */
export interface StatusCause {
  field?: string;
  message?: string;
  reason?: string;
}

/**
 * A request the API server answered with an error Status (or did not answer at all: `code` 0).
 * Carries the server's own reason and message, so callers can pass them on unchanged.
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly causes: StatusCause[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'KubeApiError';
  }

  /** Builds the error from a response; `body` is the parsed Status when the server sent one. */
  static fromResponse(method: string, path: string, code: number, body: unknown): KubeApiError {
    const status = (typeof body === 'object' && body !== null ? body : {}) as {
      reason?: string;
      message?: string;
      details?: { causes?: StatusCause[] };
    };
    const text =
      status.message ?? (typeof body === 'string' && body !== '' ? body.slice(0, 500) : `HTTP ${code}`);
    return new KubeApiError(code, status.reason ?? `HTTP${code}`, text, status.details?.causes ?? [], {
      cause: new Error(`${method} ${path}`),
    });
  }
}

export function apiErrorCode(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => apiErrorCode(err) === 404;
export const isConflict = (err: unknown): boolean => apiErrorCode(err) === 409;
/** The resource version asked for is older than the server keeps: list again. */
export const isGone = (err: unknown): boolean => apiErrorCode(err) === 410;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists';
