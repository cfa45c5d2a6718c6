import { STATUS_CODES } from 'node:http';

/**
 * The raw HTTP response for a request Node's parser rejected before it became a request (bad
 * request line, headers too large, headers too slow). Node's own answer is text/plain; every
 * error from the runtime is JSON. Undefined when the peer is gone and nothing should be written.
 */
export function clientErrorResponse(code: string | undefined): string | undefined {
  if (code === 'ECONNRESET' || code === 'EPIPE') return undefined;
  const status =
    code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? 413
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
  const reason = STATUS_CODES[status] ?? 'Bad Request';
  const body = JSON.stringify({
    error: `${reason.toLowerCase()}: the request could not be parsed (${code ?? 'unknown'})`,
  });
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
