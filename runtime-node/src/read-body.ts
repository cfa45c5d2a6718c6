import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from './http-errors.js';

const EMPTY = Buffer.alloc(0);

/**
 * The request body, at most `limit` bytes. A Content-Length over the limit is refused before any
 * byte is read; a chunked body is refused as soon as it passes the limit, and reading stops there.
 * Rejects with `signal.reason` if the signal aborts first.
 */
export async function readBody(
  request: IncomingMessage,
  limit: number,
  signal: AbortSignal,
): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new PayloadTooLargeError(limit);
  // The 'request' event fires while the parser is still inside the headers; one microtask later it
  // has seen the end of a message without a body (most GETs), which then needs no stream reading.
  await undefined;
  signal.throwIfAborted();
  if (request.readableEnded || (request.complete && request.readableLength === 0)) return EMPTY;
  return readStream(request, limit, signal);
}

function readStream(request: IncomingMessage, limit: number, signal: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        request.pause();
        reject(new PayloadTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(signal.aborted ? signal.reason : error);
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
