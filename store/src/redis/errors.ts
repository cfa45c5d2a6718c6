import { StoreCommandError, StoreUnavailableError } from '../errors.js';

// Replies that mean Redis cannot serve this client now rather than "no" to one command: a
// server loading its data, a script or a replica in the way, a failover under way, or a
// login refused (the credentials are wrong or were rotated; the caller can do nothing else).
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|WRONGPASS|NOAUTH)\b/;

export type UnavailableErrorClass = new (message: string, options?: ErrorOptions) => StoreUnavailableError;

/**
 * Turns what ioredis threw into the store's errors. A reply error is Redis saying no
 * (StoreCommandError) unless it means unavailable (above); everything else from the client (connection
 * closed, stream not writable, command timeout, retries exhausted) means Redis is out of
 * reach. Programming errors pass through untouched.
 */
export function toStoreError(
  err: unknown,
  operation: string,
  Unavailable: UnavailableErrorClass = StoreUnavailableError,
  connectionError?: Error,
): Error {
  if (err instanceof StoreUnavailableError || err instanceof StoreCommandError) return err;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLY.test(message))
    return new StoreCommandError(`${operation}: Redis refused it: ${message}`, { cause: err });
  // "max retries reached" says little; why the connection failed (WRONGPASS, ECONNREFUSED) says more.
  const why =
    connectionError !== undefined && connectionError.message !== message
      ? `; ${connectionError.message}`
      : '';
  return new Unavailable(`${operation}: Redis is unavailable (${message}${why})`, { cause: err });
}
