import { type Server, createServer } from 'node:net';

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Ports that were free a moment ago, for servers that must be told their port before they
 * start (etcd, kube-apiserver, a timed spawn). All are held open until all are chosen, so they
 * differ from each other; released one at a time, the kernel may hand out the same one twice.
 * Another process could still take one in between; where a server can report its own port,
 * PORT=0 is better.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnAnyPort());
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address !== 'object') throw new Error('no port from a TCP listener');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}
