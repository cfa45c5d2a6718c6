import { createServer } from 'node:net';

/**
 * A loopback port free a moment ago, for a program that must be told its port rather than pick
 * one (a container function reads $PORT). Another process could take it in between; the replica
 * then never gets ready, exits or is restarted, and asks again.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
