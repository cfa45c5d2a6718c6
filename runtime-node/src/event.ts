import type { IncomingHttpHeaders } from 'node:http';
import { readCloudEvent } from './cloud-event.js';
import type { FunctionEvent, Headers, Query } from './contract.js';
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
  const headers = copyHeaders(request.headers);
  const body = parseBody(request.rawBody, headerString(headers['content-type']));
  const cloudEvent = readCloudEvent(headers, body);
  const event: FunctionEvent = {
    method: request.method,
    path,
    query,
    headers,
    body,
    rawBody: request.rawBody,
  };
  return cloudEvent === undefined ? event : { ...event, cloudEvent };
}

/** Repeated keys become arrays, in order of appearance. */
export function parseQuery(search: string): Query {
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
  const copy: [string, string | string[]][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) copy.push([name, value]);
  }
  return Object.fromEntries(copy);
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
