import { type Problem, problems } from '../http/problems.js';

/**
 * How a trip to a replica failed, before any of its answer reached the caller:
 * - `never-connected`: the connection was never established, so the replica never saw the request
 *   (and none of its body was read): another replica may take it;
 * - `timeout`: the replica took longer than the function's timeout, for its headers or between
 *   chunks of its body alike (the replica was reached, and may have done the work);
 * - `body-too-large`: the caller's streamed body passed the limit on its way through;
 * - `failed`: anything else after connecting (a reset, a malformed answer): the replica may have
 *   run the call, so it is not repeated;
 * - `busy`: every replica was at its concurrency and the gateway's queue was full, or stayed so
 *   for the function's timeout (functions the gateway admits for): no replica saw the request.
 */
export type UpstreamFailure = 'never-connected' | 'timeout' | 'body-too-large' | 'failed' | 'busy';

/** Error codes of a connection that was never established. */
const NEVER_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** undici's codes for a replica that went quiet: no headers in time, or a gap in the body. */
const TIMED_OUT: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Raised while streaming a caller's body of undeclared length past the gateway's limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

/** The one classifier of upstream errors, for the streaming exchange and the buffered call alike. Pure. */
export function classifyUpstreamError(err: Error): UpstreamFailure {
  if (err instanceof BodyTooLargeError) return 'body-too-large';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return 'failed';
  if (NEVER_CONNECTED.has(code)) return 'never-connected';
  if (TIMED_OUT.has(code)) return 'timeout';
  return 'failed';
}

/** What the caller hears for a failure: 504 for a timeout, 413 for a body over the limit, else 502. */
export function problemFor(
  failure: UpstreamFailure,
  err: Error,
  functionName: string,
  timeoutMs: number,
): Problem {
  switch (failure) {
    case 'timeout':
      return problems.timeout(functionName, timeoutMs);
    case 'body-too-large':
      return problems.bodyTooLarge((err as BodyTooLargeError).limit);
    default:
      return problems.badGateway(functionName, err);
  }
}
