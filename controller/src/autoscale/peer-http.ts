import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The gateways' calls to the controllers (reports, wakes): small JSON bodies with a shared Bearer token. */

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the body may have at most ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** True when no token is asked for, or the request carries it (compared in constant time). */
export function bearerMatches(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
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
