import { createHash } from 'node:crypto';
import type { Message } from 'amqplib';
import type { SourceEvent } from '../source.js';

export const RABBITMQ_EVENT_TYPE = 'dev.nimbus.rabbitmq.message';

/** Headers the broker changes on each redelivery: left out of a message's digest, so its id holds. */
const REDELIVERY_HEADERS = new Set(['x-delivery-count']);
const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;
const PRINTABLE = /^[\x20-\x7e]*$/;
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/;

/**
 * One consumed message as the event its trigger delivers. Everything in it is the publisher's
 * (hostile) choice, and it travels as HTTP headers: values outside printable ASCII are
 * percent-encoded, a content type that is no media type is ignored, and nothing here throws.
 *
 * `source` is `amqp://host:port/vhost#queue`; `now` is the receipt time, for messages without a
 * timestamp.
 */
export function messageEvent(message: Message, source: string, now: number): SourceEvent {
  const { fields, properties, content } = message;
  const extensions: Record<string, string> = {};
  if (fields.exchange !== '') extensions.exchange = headerSafe(fields.exchange);
  extensions.routingkey = headerSafe(fields.routingKey);
  const correlationId = textOf(properties.correlationId);
  if (correlationId !== undefined && correlationId !== '')
    extensions.correlationid = headerSafe(correlationId);
  // W3C trace context as OpenTelemetry's AMQP instrumentation sets it: CloudEvents' distributed
  // tracing extension. The gateway reads it as untrusted (a malformed one starts a trace of its own).
  for (const name of TRACE_HEADERS) {
    const value = textOf(properties.headers?.[name]);
    if (value !== undefined && value !== '' && value.length <= 512) extensions[name] = headerSafe(value);
  }
  return {
    id: messageId(message),
    type: RABBITMQ_EVENT_TYPE,
    source,
    ...(fields.routingKey === '' ? {} : { subject: headerSafe(fields.routingKey) }),
    time: timeOf(properties.timestamp) ?? now,
    contentType: contentTypeOf(properties.contentType, content),
    data: content,
    extensions,
  };
}

/**
 * The delivery count the broker knows: a quorum queue's `x-delivery-count` header counts earlier
 * deliveries; a classic queue only says whether the message was delivered before. A publisher can
 * set that header too, so it counts only on a message the broker itself flags as redelivered.
 */
export function attemptOf(message: Message): number {
  if (!message.fields.redelivered) return 1;
  const count = message.properties.headers?.['x-delivery-count'];
  if (typeof count === 'number' && Number.isInteger(count) && count >= 1)
    return Math.min(count, 1_000_000) + 1;
  return 2;
}

/**
 * The publisher's message-id when it can serve as an event id as it is; otherwise a digest of
 * what identifies the message, the same each time the broker delivers it: the id a publisher set,
 * or else where it was published to, its properties (less what a redelivery changes) and its body.
 * Two identical messages published without a message-id share an id; a publisher that sends
 * such messages sets message-id.
 */
export function messageId(message: Message): string {
  const id = textOf(message.properties.messageId);
  if (id !== undefined && id !== '' && id.length <= 200 && /^[!-~]+$/.test(id)) return id;
  const hash = createHash('sha256');
  if (id !== undefined && id !== '') hash.update(`message-id\0${id}`);
  else {
    const { headers, ...rest } = message.properties;
    const kept = Object.fromEntries(
      Object.entries(headers ?? {}).filter(([k]) => !REDELIVERY_HEADERS.has(k)),
    );
    hash.update(canonical([message.fields.exchange, message.fields.routingKey, rest, kept]));
    hash.update('\0');
    hash.update(message.content);
  }
  return `amqp-${hash.digest('hex')}`;
}

/** Deterministic text for a decoded AMQP value: object keys sorted, bytes and dates spelled out. */
function canonical(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Buffer.isBuffer(value) || value instanceof Uint8Array)
    return `b:${Buffer.from(value).toString('base64')}`;
  if (value instanceof Date) return `d:${value.getTime()}`;
  if (typeof value === 'bigint') return `n:${value}`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The body's media type: the publisher's when it is one, else JSON when it parses as JSON, else bytes. */
function contentTypeOf(declared: unknown, body: Buffer): string {
  const text = textOf(declared)?.trim();
  if (text !== undefined && text.length <= 255 && MEDIA_TYPE.test(text)) return text;
  if (body.length > 0) {
    try {
      JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      return 'application/json';
    } catch {
      // not JSON
    }
  }
  return 'application/octet-stream';
}

/** AMQP timestamps are seconds since the epoch; a value outside what a Date holds is ignored. */
function timeOf(timestamp: unknown): number | undefined {
  const seconds =
    typeof timestamp === 'number'
      ? timestamp
      : timestamp instanceof Date
        ? timestamp.getTime() / 1000
        : Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 253_402_300_799) return undefined;
  return Math.round(seconds * 1000);
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** Printable ASCII as it is; anything else, and `%`, percent-encoded (reversibly). */
function headerSafe(text: string): string {
  if (PRINTABLE.test(text) && !text.includes('%')) return text;
  return Array.from(text, (ch) => (PRINTABLE.test(ch) && ch !== '%' ? ch : percentEncoded(ch))).join('');
}

function percentEncoded(ch: string): string {
  try {
    return encodeURIComponent(ch);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: U+FFFD, as a UTF-8 decoder would make it
  }
}
