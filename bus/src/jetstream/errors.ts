import { ErrorCode, NatsError } from 'nats';
import {
  BusConfigError,
  BusError,
  BusPayloadTooLargeError,
  BusUnavailableError,
  type UnavailableReason,
} from '../errors.js';

/** JetStream API error codes the bus tells apart. */
export const STREAM_NOT_FOUND = 10059;
export const CONSUMER_NOT_FOUND = 10014;

export function isApiError(err: unknown, code: number): boolean {
  return err instanceof NatsError && err.api_error?.err_code === code;
}

/**
 * A nats.js failure as a bus error: unreachable or too slow is BusUnavailableError; no responder
 * means no stream took the subject (or JetStream is not up yet), for which `noResponders` says
 * which; a refusal by the JetStream API, or by the user's permissions, is a BusConfigError carrying
 * the server's description.
 */
export function toBusError(err: unknown, what: string, noResponders: UnavailableReason): BusError {
  if (err instanceof BusError) return err;
  if (err instanceof NatsError) {
    if (err.api_error !== undefined)
      return new BusConfigError(`${what}: ${err.api_error.description}`, { cause: err });
    switch (err.code) {
      case ErrorCode.PermissionsViolation:
        // The user this process logs in as lacks the permission: retrying will not help.
        return new BusConfigError(`${what}: NATS denied it to this user (${err.message})`, { cause: err });
      case ErrorCode.MaxPayloadExceeded:
        return new BusPayloadTooLargeError(`${what}: the message is larger than the server's max_payload`, {
          cause: err,
        });
      case ErrorCode.Timeout:
        return new BusUnavailableError(`${what}: NATS did not answer in time`, 'timeout', { cause: err });
      case ErrorCode.NoResponders:
        return new BusUnavailableError(
          noResponders === 'no-stream'
            ? `${what}: no stream takes the subject (or JetStream is not ready)`
            : `${what}: JetStream is not available`,
          noResponders,
          { cause: err },
        );
      case ErrorCode.ConnectionClosed:
      case ErrorCode.ConnectionDraining:
        return new BusUnavailableError(`${what}: the bus is closed`, 'closed', { cause: err });
      case ErrorCode.Disconnect:
      case ErrorCode.ConnectionRefused:
      case ErrorCode.ConnectionTimeout:
        return new BusUnavailableError(`${what}: NATS is unreachable`, 'disconnected', { cause: err });
    }
  }
  return new BusError(`${what} failed`, { cause: err });
}
