import type { ResolvedSource } from '@nimbus/api';
import { SourceConfigError } from '../source.js';
import { type BrokerAddress, fieldOf } from './broker-url.js';

/** What a failed AMQP operation tells: the reply code when the broker closed a channel or connection. */
export function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number') return code;
  // A connection closed during the handshake carries the code in its text only.
  const match = /\b(\d{3}) \([A-Z-]+\)/.exec(String((err as Error | undefined)?.message ?? ''));
  return match === null ? undefined : Number(match[1]);
}

export const NOT_FOUND = 404;
export const PRECONDITION_FAILED = 406;
export const NOT_IMPLEMENTED = 540;

/**
 * A failure as it may be shown (health, logs, a thrown error): what went wrong with which broker,
 * never its credentials. A refused login or vhost is the trigger's configuration, so a
 * SourceConfigError naming the connection field; anything else may pass, so an Error.
 */
export function brokerFailure(
  err: unknown,
  address: BrokerAddress,
  source: Pick<ResolvedSource, 'name'>,
): Error {
  if (err instanceof SourceConfigError) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const field = fieldOf(source, 'connection');
  const code = (err as { code?: unknown } | undefined)?.code;
  const at = (text: string) => address.redact(`${address.display}: ${text}`);
  if (/ACCESS.REFUSED - Login was refused/i.test(raw) || /Handshake terminated by server: 403/.test(raw))
    return new SourceConfigError(field, at('the broker refused the login; check the user and password'));
  if (/NOT_ALLOWED - (vhost|access to vhost)/i.test(raw))
    return new SourceConfigError(
      field,
      at(`the vhost ${JSON.stringify(address.vhost)} does not exist or the user may not use it`),
    );
  if (code === 'ECONNREFUSED') return new Error(at('connection refused'));
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new Error(at('the host name does not resolve'));
  if (/ETIMEDOUT/.test(raw)) return new Error(at('the broker did not answer in time'));
  return new Error(at(raw.replace(/^Operation failed: \w+; /, '')));
}
