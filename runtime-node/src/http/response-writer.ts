import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { SPANS_RESPONSE_HEADER } from '@nimbus/api/replica-spans';
import { CALL_ID_HEADER } from '../invoke/invocation-id.js';

import { JSON_TYPE, type ResponseSpec } from '../invoke/response-mapping.js';
import type { ErrorResponse } from './http-errors.js';
import type { SystemReply } from './system-routes.js';

// Set by the runtime for the body and connection it sends, and the spans it records; a handler's own
// values (say, copied from a ctx.invoke response) would be wrong or unsafe.
const FRAMING_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  CALL_ID_HEADER,
  SPANS_RESPONSE_HEADER,
]);

export interface WriteOptions {
  /** Echoed as x-call-id; omitted for the runtime's own /_/ endpoints when undefined. */
  readonly invocationId: string | undefined;
  /** Ask the client not to reuse the connection (draining, or a request body left unread). */
  readonly close: boolean;
  /** The invocation's spans for the gateway, encoded, when it asked for them. */
  readonly spans?: string;
}

export function writeResponse(res: ServerResponse, spec: ResponseSpec, options: WriteOptions): void {
  if (res.headersSent || res.destroyed) return;
  // One writeHead with a flat [name, value, ...] list: each setHeader would validate the header and
  // copy it into the response's header map, only for writeHead to read it back out.
  const headers: OutgoingHttpHeader[] = [];
  for (const name of Object.keys(spec.headers)) {
    const value = spec.headers[name];
    if (value !== undefined && !FRAMING_HEADERS.has(name)) headers.push(name, value);
  }
  if (options.invocationId !== undefined) headers.push(CALL_ID_HEADER, options.invocationId);
  if (options.close) headers.push('connection', 'close');
  if (options.spans !== undefined) headers.push(SPANS_RESPONSE_HEADER, options.spans);
  const bodyAllowed = spec.statusCode !== 204 && spec.statusCode !== 304;
  const body = bodyAllowed ? spec.body : undefined;
  if (bodyAllowed) headers.push('content-length', byteLength(body));
  res.writeHead(spec.statusCode, headers);
  // A HEAD response carries the headers of the GET, content-length included, but no body.
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export function writeJson(
  res: ServerResponse,
  statusCode: number,
  body: unknown,
  options: WriteOptions,
  headers: Readonly<Record<string, string>> = {},
): void {
  writeResponse(
    res,
    { statusCode, headers: { ...headers, 'content-type': JSON_TYPE }, body: JSON.stringify(body) },
    options,
  );
}

export function writeError(res: ServerResponse, error: ErrorResponse, options: WriteOptions): void {
  writeJson(res, error.statusCode, error.body, options, error.headers);
}

function byteLength(body: Buffer | string | undefined): number {
  if (body === undefined) return 0;
  return typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
}

/** The answer from one of the runtime's own endpoints (/_/health, /_/ready, /_/metrics). */
export function writeSystemReply(res: ServerResponse, reply: SystemReply, options: WriteOptions): void {
  if (reply.kind === 'json') {
    writeJson(res, reply.statusCode, reply.body, options, reply.headers);
  } else {
    writeResponse(
      res,
      { statusCode: reply.statusCode, headers: { 'content-type': reply.contentType }, body: reply.body },
      options,
    );
  }
}
