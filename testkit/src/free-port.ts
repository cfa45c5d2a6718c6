import { createServer } from 'node:net';

/**
 * A port that was free a moment ago: bound on 127.0.0.1:0 and released. For servers that must
 * be told their port before they start (etcd, kube-apiserver, a timed spawn). Another process
 * could take it in between; where a server can report its own port, PORT=0 is better.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port from a TCP listener'));
      });
    });
  });
}
