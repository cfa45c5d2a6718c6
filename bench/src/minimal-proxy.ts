// The floor for a proxy written in Node, to measure the gateway against in the same run: node:http
// in front, undici's Pool behind (the gateway's own client), every request streamed to one replica
// and its answer streamed back; no routing, auth, limits, retries, call ids or metrics. It reports
// its port over IPC as {type:'listening', port}, like the bench's other servers.
//   node bench/dist/src/minimal-proxy.js <replica-port>
import { createServer } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';

const PREFIX = '/function/hello';
const replicaPort = Number(process.argv[2]);
if (!Number.isInteger(replicaPort) || replicaPort < 1 || replicaPort > 65_535)
  throw new Error(`usage: minimal-proxy <replica-port>; got ${JSON.stringify(process.argv[2])}`);
const pool = new Pool(`http://127.0.0.1:${replicaPort}`, { connections: 256, pipelining: 1 });

const server = createServer((req, res) => {
  // undici refuses connection-level headers; a proxy drops them anyway.
  const headers: Record<string, string | string[]> = {};
  for (const name in req.headers)
    if (name !== 'connection' && name !== 'keep-alive')
      headers[name] = req.headers[name] as string | string[];
  const rest = (req.url as string).slice(PREFIX.length);
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const handler: Dispatcher.DispatchHandlers = {
    onConnect: () => {},
    onHeaders(status, raw, resume) {
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = (raw[i] as Buffer).toString('latin1');
        if (name.toLowerCase() !== 'connection' && name.toLowerCase() !== 'keep-alive')
          out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      }
      res.writeHead(status, out);
      res.on('drain', resume);
      return true;
    },
    onData: (chunk) => res.write(chunk),
    onComplete: () => res.end(),
    onError: () => res.destroy(),
  };
  pool.dispatch(
    {
      path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? (req as Readable) : null,
    },
    handler,
  );
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (process.send && typeof address === 'object' && address !== null)
    process.send({ type: 'listening', port: address.port });
});
process.once('disconnect', () => process.exit(0));
