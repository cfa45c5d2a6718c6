import { validateHeaderName, validateHeaderValue } from 'node:http';
import { InvalidResultError } from '../http/http-errors.js';

export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const BYTES_TYPE = 'application/octet-stream';
export const JSON_TYPE = 'application/json';

/**
 * A response ready to write: lower-cased header names, and the body as bytes, as text (sent as
 * UTF-8), or none. Text stays a string because Node then sends the headers and the body as one
 * chunk, where bytes cost it a second.
 */
export interface ResponseSpec {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer | string | undefined;
}

/** Shared by every plain 200; frozen because nothing downstream may change them. */
const CONTENT_TYPE_HEADERS: Readonly<Record<string, Readonly<Record<string, string>>>> = Object.freeze({
  [TEXT_TYPE]: Object.freeze({ 'content-type': TEXT_TYPE }),
  [BYTES_TYPE]: Object.freeze({ 'content-type': BYTES_TYPE }),
  [JSON_TYPE]: Object.freeze({ 'content-type': JSON_TYPE }),
});

/**
 * Turns whatever a handler returned into a response. An object with a numeric `statusCode` is an
 * explicit response; any other value is the body of a 200 (204 for undefined/null). Throws an
 * InvalidResultError (500) when the value cannot be sent as asked.
 */
export function mapHandlerResult(value: unknown): ResponseSpec {
  if (isExplicitResponse(value)) return explicitResponse(value);
  if (value === undefined || value === null) return { statusCode: 204, headers: {}, body: undefined };
  const { contentType, body } = encodeBody(value);
  return {
    statusCode: 200,
    headers: CONTENT_TYPE_HEADERS[contentType] ?? { 'content-type': contentType },
    body,
  };
}

interface ExplicitResponse {
  readonly statusCode: number;
  readonly headers?: unknown;
  readonly body?: unknown;
}

function isExplicitResponse(value: unknown): value is ExplicitResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    !isBytes(value) &&
    typeof (value as { statusCode?: unknown }).statusCode === 'number'
  );
}

function explicitResponse(value: ExplicitResponse): ResponseSpec {
  const { statusCode } = value;
  // 1xx codes are interim responses: sent as the final one, they leave the client hanging or reset.
  if (!Number.isInteger(statusCode) || statusCode < 200 || statusCode > 599) {
    throw new InvalidResultError(
      `handler returned an invalid statusCode ${String(statusCode)}; it must be an integer from 200 to 599`,
    );
  }
  const headers = normalizeHeaders(value.headers);
  if (value.body === undefined || value.body === null) return { statusCode, headers, body: undefined };
  const { contentType, body } = encodeBody(value.body);
  return {
    statusCode,
    headers: headers['content-type'] === undefined ? { ...headers, 'content-type': contentType } : headers,
    body,
  };
}

function encodeBody(body: unknown): { contentType: string; body: Buffer | string } {
  if (typeof body === 'string') return { contentType: TEXT_TYPE, body };
  if (isBytes(body)) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return { contentType: BYTES_TYPE, body: bytes };
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidResultError(`handler returned a body that cannot be sent as JSON: ${reason}`, {
      cause: error,
    });
  }
  // JSON.stringify yields undefined for a function or symbol.
  if (json === undefined) {
    throw new InvalidResultError(
      `handler returned a ${typeof body}, which cannot be sent as a response body`,
    );
  }
  return { contentType: JSON_TYPE, body: json };
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function normalizeHeaders(headers: unknown): Record<string, string | string[]> {
  if (headers === undefined || headers === null) return {};
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw new InvalidResultError('handler returned headers that are not an object of name → value');
  }
  // A Map, because a handler header named `__proto__` must not reach an object's prototype.
  const result = new Map<string, string | string[]>();
  for (const [rawName, rawValue] of Object.entries(headers)) {
    if (rawValue === undefined || rawValue === null) continue;
    const name = rawName.toLowerCase();
    const value = Array.isArray(rawValue) ? rawValue.map(String) : String(rawValue);
    try {
      validateHeaderName(name);
      for (const item of Array.isArray(value) ? value : [value]) validateHeaderValue(name, item);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new InvalidResultError(
        `handler returned an invalid header ${JSON.stringify(rawName)}: ${reason}`,
        {
          cause: error,
        },
      );
    }
    result.set(name, value);
  }
  return Object.fromEntries(result);
}
