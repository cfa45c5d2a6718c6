import type { CloudEvent, Headers } from '../contract.js';
import { BadRequestError } from '../http/http-errors.js';
import { mediaType } from './request-body.js';

/** The attributes every CloudEvent must carry (CloudEvents 1.0 "REQUIRED"). */
export const REQUIRED_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;

export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

/** Binary mode is recognised by any of these; spelled out once rather than built on every request. */
const REQUIRED_HEADERS = REQUIRED_ATTRIBUTES.map((name) => `ce-${name}`);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The CloudEvent carried by a request, per the CloudEvents HTTP binding: structured mode when the
 * content type is application/cloudevents+json (the body is the envelope), binary mode when any
 * required `ce-*` header is present (attributes in headers, the body is `data`). Undefined for an
 * ordinary request; a 400 for a CloudEvent missing a required attribute.
 */
export function readCloudEvent(headers: Headers, body: unknown): CloudEvent | undefined {
  const contentType = headerValue(headers['content-type']);
  if (mediaType(contentType) === STRUCTURED_CONTENT_TYPE) return structured(body);
  if (REQUIRED_HEADERS.some((name) => headers[name] !== undefined)) {
    return binary(headers, body, contentType);
  }
  return undefined;
}

function structured(body: unknown): CloudEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('a structured CloudEvent must be a JSON object');
  }
  const envelope = body as Record<string, unknown>;
  requireAttributes(envelope, (name) => `"${name}"`);
  const { data_base64: base64, ...event } = envelope;
  if (base64 === undefined) return event as CloudEvent;
  if ('data' in envelope) {
    throw new BadRequestError('a CloudEvent must not carry both "data" and "data_base64"');
  }
  const compact = typeof base64 === 'string' ? base64.replace(/\s+/g, '') : undefined;
  if (compact === undefined || compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new BadRequestError('CloudEvent attribute "data_base64" must be a base64 string');
  }
  return { ...event, data: Buffer.from(compact, 'base64') } as CloudEvent;
}

function binary(headers: Headers, body: unknown, contentType: string | undefined): CloudEvent {
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('ce-') && name.length > 3)
      attributes[name.slice(3)] = percentDecode(headerValue(value) ?? '');
  }
  requireAttributes(attributes, (name) => `"${name}" (header ce-${name})`);
  if (contentType !== undefined) attributes.datacontenttype = contentType;
  if (body !== undefined) attributes.data = body;
  return attributes as CloudEvent;
}

function requireAttributes(attributes: Record<string, unknown>, describe: (name: string) => string): void {
  for (const name of REQUIRED_ATTRIBUTES) {
    const value = attributes[name];
    if (typeof value !== 'string' || value === '') {
      throw new BadRequestError(`CloudEvent is missing required attribute ${describe(name)}`, {
        attribute: name,
      });
    }
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Binary-mode header values are percent-encoded (CloudEvents HTTP binding §3.1.3.2). */
function percentDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
