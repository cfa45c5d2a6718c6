import { createHash } from 'node:crypto';
import { type ResolvedSource, sourceKey } from '@nimbus/api';
import type { BusMessage, Headers } from '@nimbus/bus';
import type { SourceEvent } from '@nimbus/sources';
import type { BufferedRequest } from '../invoke/invoker.js';

/**
 * A source event as it waits in NIMBUS_SOURCES, and the request it becomes: a POST with a binary
 * CloudEvent. The CloudEvent attributes travel as `ce-*` headers on the stored message; only the
 * gateway and the controller may store there, and the request takes nothing else from them.
 */

const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
const RESERVED_ATTRIBUTES = new Set(['id', 'type', 'source', 'subject', 'time', 'specversion']);
/** CloudEvents' distributed tracing extension: it travels as W3C trace context headers, not `ce-*`. */
const TRACE_EXTENSIONS = new Set(['traceparent', 'tracestate']);
/** Printable ASCII, no more than a header should hold. */
const ATTRIBUTE_VALUE = /^[\x20-\x7e]{0,1024}$/;
const ID = /^[\x21-\x7e]{1,200}$/;

/** The message's headers for `event`; throws a TypeError naming the attribute that cannot travel. */
export function sourceMessageHeaders(event: SourceEvent): Headers {
  if (!ID.test(event.id))
    throw new TypeError(`event id ${JSON.stringify(event.id)} is not 1-200 printable characters`);
  const headers: Record<string, string> = {
    'Content-Type': event.contentType,
    'ce-specversion': '1.0',
    'ce-id': event.id,
    'ce-type': event.type,
    'ce-source': event.source,
    'ce-time': new Date(event.time).toISOString(),
  };
  if (event.subject !== undefined) headers['ce-subject'] = event.subject;
  for (const [name, value] of Object.entries(event.extensions ?? {})) {
    if (!EXTENSION_NAME.test(name) || RESERVED_ATTRIBUTES.has(name))
      throw new TypeError(
        `CloudEvent extension ${JSON.stringify(name)} is not a lower-case name of 1-20 letters and digits`,
      );
    headers[TRACE_EXTENSIONS.has(name) ? name : `ce-${name}`] = value;
  }
  for (const [name, value] of Object.entries(headers))
    if (!ATTRIBUTE_VALUE.test(value)) headers[name] = value.replace(/[^\x20-\x7e]/g, '?').slice(0, 1024);
  return headers;
}

/** The request a stored source event becomes. Pure. */
export function sourceEventRequest(message: BusMessage): BufferedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    const lower = name.toLowerCase();
    if (
      lower.startsWith('ce-') ||
      lower === 'content-type' ||
      lower === 'traceparent' ||
      lower === 'tracestate'
    )
      headers[lower] = value;
  }
  headers['content-type'] ??= 'application/octet-stream';
  headers['ce-id'] ??= message.id;
  headers['x-call-id'] = message.id;
  return { method: 'POST', path: '/', headers, body: Buffer.from(message.data) };
}

/** The request a source event delivered straight from its origin (RabbitMQ) becomes. Pure. */
export function directEventRequest(event: SourceEvent): BufferedRequest {
  const headers = Object.fromEntries(
    Object.entries(sourceMessageHeaders(event)).map(([name, value]) => [name.toLowerCase(), value]),
  );
  headers['x-call-id'] = event.id;
  return { method: 'POST', path: '/', headers, body: Buffer.from(event.data) };
}

/**
 * `<prefix>:<namespace/function/trigger>:<event id>`, an id no other trigger's event can have (two
 * triggers on one database read the same change ids); the event id hashed when the whole would
 * pass 256 characters, the store's bound on ids.
 */
export function sourceEventKey(
  prefix: string,
  source: Pick<ResolvedSource, 'namespace' | 'function' | 'name'>,
  eventId: string,
): string {
  const whole = `${prefix}:${sourceKey(source)}:${eventId}`;
  if (whole.length <= 256) return whole;
  return `${prefix}:${sourceKey(source)}:sha256-${createHash('sha256').update(eventId).digest('base64url')}`;
}
