import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A stand-in replica: a real HTTP server on a loopback port. */
export async function upstream(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A port nothing listens on: bound, noted, released. */
export async function closedPort(): Promise<number> {
  const { server, port } = await upstream(() => {});
  await new Promise((r) => server.close(r));
  return port;
}

/** Answers with what it received, as JSON, and sets headers the gateway must pass or replace. */
export const echoRequest: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-upstream', 'yes');
    res.setHeader('x-call-id', 'the replica may echo it');
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
};
