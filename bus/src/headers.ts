import { BusConfigError } from './errors.js';

/** JetStream's deduplication header; the bus sets it from `msgId`, never from caller headers. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

export type Headers = Readonly<Record<string, string>>;

/**
 * Names are printable ASCII without `:` or spaces, values are one line (NATS headers are MIME
 * headers). `Nats-` names steer JetStream itself (expected sequence, rollup...), so callers may
 * not set them.
 */
export function checkHeaders(headers: Headers): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!-9;-~]+$/.test(name))
      throw new BusConfigError(`header name "${name}" is not a valid header name`);
    if (name.toLowerCase().startsWith('nats-'))
      throw new BusConfigError(
        `header "${name}" is reserved for NATS; use the msgId option for ${MSG_ID_HEADER}`,
      );
    if (/[\r\n]/.test(value)) throw new BusConfigError(`header "${name}" has a line break in its value`);
  }
}

/** The id a delivered message is known by: its publisher's dedup id, else its place in the stream. */
export function messageId(headers: Headers, stream: string, seq: number): string {
  return headers[MSG_ID_HEADER] ?? `${stream}:${seq}`;
}
