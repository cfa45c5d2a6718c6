import type { IncomingHttpHeaders } from 'node:http';
import { AUTH_CLAIMS_HEADER, ROUTE_PARAMS_HEADER } from '@nimbus/api/gateway-headers';
import type { FunctionEvent, Headers, Params, Query } from '../contract.js';
import { readCloudEvent } from './cloud-event.js';
import { parseBody } from './request-body.js';

/** The parts of an HTTP request the event is built from. */
export interface RequestParts {
  readonly method: string;
  /** The request target as received, e.g. `/a/b?x=1`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
}

/** The handler's `event`; throws a 400 for a body or CloudEvent that does not parse. */
export function buildEvent(request: RequestParts): FunctionEvent {
  const queryStart = request.url.indexOf('?');
  const path = queryStart === -1 ? request.url : request.url.slice(0, queryStart);
  const query = queryStart === -1 ? {} : parseQuery(request.url.slice(queryStart + 1));
  const params = readParams(request.headers[ROUTE_PARAMS_HEADER]);
  const headers = copyHeaders(request.headers);
  const auth = claimsOf(headers as Record<string, string | string[]>);
  const body = parseBody(request.rawBody, headerString(headers['content-type']));
  const cloudEvent = readCloudEvent(headers, body);
  const event: FunctionEvent = {
    method: request.method,
    path,
    query,
    params,
    headers,
    body,
    rawBody: request.rawBody,
  };
  const withAuth = auth === undefined ? event : { ...event, auth };
  return cloudEvent === undefined ? withAuth : { ...withAuth, cloudEvent };
}

/**
 * The verified claims the gateway sent (AUTH_CLAIMS_HEADER), taken out of the headers so the
 * handler reads them in one place; the gateway drops any copy a caller sends. A value that is not
 * a JSON object gives none.
 */
function claimsOf(headers: Record<string, string | string[]>): Record<string, unknown> | undefined {
  const raw = headers[AUTH_CLAIMS_HEADER];
  if (raw === undefined) return undefined;
  delete headers[AUTH_CLAIMS_HEADER];
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Repeated keys become arrays, in order of appearance. */
export function parseQuery(search: string): Query {
  return (NEEDS_DECODING.test(search) ? undefined : parsePlainQuery(search)) ?? parseEncodedQuery(search);
}

// Percent-escapes, `+` for space and a leading `?` need URLSearchParams; so do surrogates, which it
// re-encodes (a lone one becomes U+FFFD). Anything else it would hand back unchanged.
const NEEDS_DECODING = /^\?|[%+\uD800-\uDFFF]/;

/**
 * A query with nothing to decode, split by hand: URLSearchParams and a Map cost three times as
 * much, and most queries are plain. Undefined for a `__proto__` key, which only defineProperty
 * could add.
 */
function parsePlainQuery(search: string): Query | undefined {
  const query: Record<string, string | string[]> = {};
  for (let start = 0; start <= search.length; ) {
    let end = search.indexOf('&', start);
    if (end === -1) end = search.length;
    if (end > start) {
      const eq = search.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const key = search.slice(start, hasValue ? eq : end);
      if (key === '__proto__') return undefined;
      const value = hasValue ? search.slice(eq + 1, end) : '';
      const existing = Object.hasOwn(query, key) ? query[key] : undefined;
      if (existing === undefined) query[key] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else query[key] = [existing, value];
    }
    start = end + 1;
  }
  return query;
}

function parseEncodedQuery(search: string): Query {
  const query = new Map<string, string | string[]>();
  for (const [key, value] of new URLSearchParams(search)) {
    const existing = query.get(key);
    if (existing === undefined) query.set(key, value);
    else if (Array.isArray(existing)) existing.push(value);
    else query.set(key, [existing, value]);
  }
  // fromEntries defines own properties, so a `__proto__` key cannot reach the prototype.
  return Object.fromEntries(query);
}

function copyHeaders(headers: IncomingHttpHeaders): Headers {
  // Spread defines own properties (a `__proto__` header stays a header) and is the fastest copy.
  const copy: Record<string, string | string[] | undefined> = { ...headers };
  for (const name in copy) if (copy[name] === undefined) delete copy[name];
  // The gateway's, read into event.params: not a header of the caller's.
  delete copy[ROUTE_PARAMS_HEADER];
  return copy as Headers;
}

const NO_PARAMS: Params = Object.freeze({});

/**
 * The matched route's parameters, as the gateway sets them (a JSON object of strings; it drops a
 * caller's own copy). Anything else, and a /function/{name} call, gives none.
 */
function readParams(value: string | string[] | undefined): Params {
  if (typeof value !== 'string') return NO_PARAMS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return NO_PARAMS;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return NO_PARAMS;
  // JSON.parse defines own properties: a `__proto__` parameter stays a parameter.
  const params: Record<string, string> = {};
  for (const [name, v] of Object.entries(parsed)) {
    if (typeof v === 'string')
      Object.defineProperty(params, name, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return params;
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
