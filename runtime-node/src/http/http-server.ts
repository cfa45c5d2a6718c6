import { type Server, createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { clientErrorResponse } from './client-error.js';

/**
 * The replica's HTTP server, without a request listener: whoever serves it (the function's
 * RuntimeServer, or a pool replica until it is specialised) attaches one. A pool replica hands the
 * listening server on to the function it takes on, so the port never changes.
 */
export function createHttpServer(): Server {
  // Longer than typical client idle timeouts, so the gateway closes idle connections first and
  // never sends a request on a socket this side is closing.
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000 });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const response = clientErrorResponse(error.code);
    if (response !== undefined && socket.writable && (socket as Socket).bytesWritten === 0)
      socket.write(response);
    socket.destroy();
  });
  return server;
}
