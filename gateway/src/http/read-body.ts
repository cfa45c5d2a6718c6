import type { IncomingMessage, ServerResponse } from 'node:http';
import { problems } from './problems.js';

/** The whole body, refused with 413 past `limit` (the connection is then closed, the rest unread). */
export function readBody(req: IncomingMessage, limit: number, res: ServerResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        res.setHeader('connection', 'close');
        reject(problems.bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
