import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The gateways' calls to the controllers (reports, wakes, the concurrency view): small JSON bodies with a shared Bearer token. */

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the body may have at most ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Whether the request carries `Bearer <token>`: `missing` without an Authorization header, `wrong`
 * with another value (compared in constant time, so the answer's timing gives no prefix away).
 */
export function bearerCheck(req: IncomingMessage, token: string): 'ok' | 'missing' | 'wrong' {
  const header = req.headers.authorization;
  if (header === undefined || header === '') return 'missing';
  const given = createHash('sha256').update(header).digest();
  const expected = createHash('sha256').update(`Bearer ${token}`).digest();
  return timingSafeEqual(given, expected) ? 'ok' : 'wrong';
}

/**
 * Answers 401 (no token) or 403 (a wrong one) and returns false unless the request carries the
 * token; `what` names the call in the message.
 */
export function authorised(req: IncomingMessage, res: ServerResponse, token: string, what: string): boolean {
  const check = bearerCheck(req, token);
  if (check === 'missing') {
    res.setHeader('www-authenticate', 'Bearer');
    replyJson(res, 401, {
      error: 'Unauthenticated',
      message: `${what} needs the report token as a Bearer token`,
    });
  } else if (check === 'wrong') {
    replyJson(res, 403, { error: 'Forbidden', message: `${what}: the Bearer token is not the report token` });
  }
  return check === 'ok';
}

/** The request's body parsed as JSON; rejects with BodyTooLargeError past `limit`, SyntaxError when not JSON. */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > limit) reject(new BodyTooLargeError(limit));
      else {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err);
        }
      }
    });
  });
}

export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
