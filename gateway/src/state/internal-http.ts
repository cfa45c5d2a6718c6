import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkFunctionName, verifyStateToken } from '@nimbus/store';

/**
 * What the gateway's internal port (the state service and the events endpoint) shares: the
 * function's identity, proven by its token, and bounded JSON bodies.
 */

/** An answer other than 200, with the JSON body `{ error, code, ...extra }`. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * The function the request comes from: `X-Nimbus-Function: <namespace>/<name>` and, as
 * `Authorization: Bearer`, that function's token (an HMAC of its name under the platform's key,
 * checked here without asking anyone). 400 for a malformed name, 401 for a wrong token.
 */
export function callingFunction(req: IncomingMessage, key: string): { namespace: string; name: string } {
  const who = header(req, 'x-nimbus-function');
  const [namespace = '', name = '', ...rest] = who.split('/');
  try {
    if (rest.length > 0) throw new Error('more than one /');
    checkFunctionName(namespace, name);
  } catch {
    throw new Refusal(400, 'InvalidFunction', 'X-Nimbus-Function must be <namespace>/<function name>');
  }
  const token = /^Bearer (\S+)$/i.exec(header(req, 'authorization'))?.[1];
  if (token === undefined || !verifyStateToken(key, namespace, name, token))
    throw new Refusal(
      401,
      'InvalidStateToken',
      `the function token is missing or is not the one of ${namespace}/${name}`,
    );
  return { namespace, name };
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === 'string' ? value : '';
}

/**
 * The body as a JSON object, refused with `tooLarge(size)` once it is longer than `limit`: said
 * from Content-Length before reading anything, or when the stream passes the limit. The rest of a
 * body refused is read and dropped, not kept (the request timeout bounds it), so the client gets
 * the refusal instead of a connection cut in the middle of its upload.
 */
export async function readJsonObject(
  req: IncomingMessage,
  limit: number,
  tooLarge: (size: string) => Refusal,
): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge(String(declared));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw tooLarge(String(size));
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Refusal(400, 'MalformedRequest', 'the body must be a JSON object');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Refusal(400, 'MalformedRequest', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
