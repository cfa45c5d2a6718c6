import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Cancellation } from '../invoke/cancellation.js';
import type { MaybePromise } from '../invoke/maybe-async.js';
import { PayloadTooLargeError } from './http-errors.js';

const EMPTY = Buffer.alloc(0);

/**
 * The request body, at most `limit` bytes: at once for a request that declares none (most GETs),
 * else a promise. A Content-Length over the limit is refused before any byte is read; a chunked body
 * is refused as soon as it passes the limit, and reading stops there. Rejects with the cancellation's
 * reason if it is cancelled first.
 */
export function readBody(
  request: IncomingMessage,
  limit: number,
  cancellation: Cancellation,
): MaybePromise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new PayloadTooLargeError(limit);
  if (!declaresBody(request.headers)) return EMPTY;
  return readDeclaredBody(request, limit, cancellation);
}

/** An HTTP/1 request carries a body only with Content-Length or Transfer-Encoding (RFC 9112 §6.3). */
export function declaresBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

async function readDeclaredBody(
  request: IncomingMessage,
  limit: number,
  cancellation: Cancellation,
): Promise<Buffer> {
  // The 'request' event fires while the parser is still inside the headers; one microtask later it
  // may have seen the whole message, which then needs no stream reading.
  await undefined;
  cancellation.throwIfAborted();
  if (request.readableEnded || (request.complete && request.readableLength === 0)) return EMPTY;
  return readStream(request, limit, cancellation);
}

function readStream(request: IncomingMessage, limit: number, cancellation: Cancellation): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      cancellation.offAbort(onAbort);
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
      reject(cancellation.aborted ? cancellation.reason : error);
    };
    const onAbort = () => {
      cleanup();
      reject(cancellation.reason);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    cancellation.onAbort(onAbort);
  });
}
