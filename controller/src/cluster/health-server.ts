import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Why the process is not ready, or undefined when it is. */
export type ReadinessProbe = () => string | undefined;

/** More routes on the same port (the gateways' concurrency reports); true when it answered. */
export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/**
 * `/metrics`, `/healthz` and `/readyz` on a port of their own, for Prometheus and the kubelet,
 * and the gateways' concurrency reports.
 */
export class HealthServer {
  private server: Server | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly notReadyReason: ReadinessProbe,
    private readonly extra: ExtraRoutes = () => false,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (this.extra(req, res, path)) return;
      const reply = (status: number, type: string, body: string) => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        reply(
          405,
          'application/json',
          JSON.stringify({ error: 'MethodNotAllowed', message: 'only GET is served here' }),
        );
      } else if (path === '/healthz') {
        reply(200, 'application/json', '{"status":"ok"}');
      } else if (path === '/readyz') {
        const reason = this.notReadyReason();
        if (reason === undefined) reply(200, 'application/json', '{"status":"ready"}');
        else reply(503, 'application/json', JSON.stringify({ error: 'NotReady', message: reason }));
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => reply(200, this.registry.contentType, text),
          (err: Error) =>
            reply(500, 'application/json', JSON.stringify({ error: 'MetricsFailed', message: err.message })),
        );
      } else {
        reply(404, 'application/json', JSON.stringify({ error: 'NotFound', message: `no route ${path}` }));
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }
}
