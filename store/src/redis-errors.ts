import { StoreCommandError, StoreUnavailableError } from './errors.js';

// Replies that mean "not now" rather than "no": a server loading its data, a script or a
// replica in the way, a failover under way.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

export type UnavailableErrorClass = new (message: string, options?: ErrorOptions) => StoreUnavailableError;

/**
 * Turns what ioredis threw into the store's errors. A reply error is Redis saying no
 * (StoreCommandError) unless it is transient; everything else from the client (connection
 * closed, stream not writable, command timeout, retries exhausted) means Redis is out of
 * reach. Programming errors pass through untouched.
 */
export function toStoreError(
  err: unknown,
  operation: string,
  Unavailable: UnavailableErrorClass = StoreUnavailableError,
): Error {
  if (err instanceof StoreUnavailableError || err instanceof StoreCommandError) return err;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(message))
    return new StoreCommandError(`${operation}: Redis refused it: ${message}`, { cause: err });
  return new Unavailable(`${operation}: Redis is unavailable (${message})`, { cause: err });
}
