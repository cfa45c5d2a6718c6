import type { ServerResponse } from 'node:http';
import type { ErrorResponse } from './http-errors.js';
import { CALL_ID_HEADER } from './invocation-id.js';
import { JSON_TYPE, type ResponseSpec } from './response-mapping.js';

// Set by the runtime for the body and connection it sends; a handler's own values (say, copied from
// a ctx.invoke response) would be wrong or unsafe.
const FRAMING_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  CALL_ID_HEADER,
]);

export interface WriteOptions {
  /** Echoed as x-call-id; omitted for the runtime's own /_/ endpoints when undefined. */
  readonly invocationId: string | undefined;
  /** Ask the client not to reuse the connection (draining, or a request body left unread). */
  readonly close: boolean;
}

export function writeResponse(res: ServerResponse, spec: ResponseSpec, options: WriteOptions): void {
  if (res.headersSent || res.destroyed) return;
  for (const [name, value] of Object.entries(spec.headers)) {
    if (!FRAMING_HEADERS.has(name)) res.setHeader(name, value);
  }
  if (options.invocationId !== undefined) res.setHeader(CALL_ID_HEADER, options.invocationId);
  if (options.close) res.setHeader('connection', 'close');
  const bodyAllowed = spec.statusCode !== 204 && spec.statusCode !== 304;
  const body = bodyAllowed ? spec.body : undefined;
  if (bodyAllowed) res.setHeader('content-length', body?.length ?? 0);
  res.writeHead(spec.statusCode);
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
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  writeResponse(
    res,
    { statusCode, headers: { ...headers, 'content-type': JSON_TYPE }, body: bytes },
    options,
  );
}

export function writeError(res: ServerResponse, error: ErrorResponse, options: WriteOptions): void {
  writeJson(res, error.statusCode, error.body, options, error.headers);
}
