import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { expose } from '../metrics/exposition.js';
import { sendProblem } from './problems.js';

/**
 * `/metrics` on a port of its own (NIMBUS_METRICS_PORT), for Prometheus inside the cluster. The
 * series name every function, key-protected ones included, so the public port serves them only
 * to an admin key; here they are served without one, and the chart's NetworkPolicy says who may
 * connect. Nothing else is served on this port. Without a port it never listens.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly registry: Registry,
    private readonly host: string,
    private readonly port: number | undefined,
  ) {
    this.server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: 'this port serves /metrics only', code: 'RouteNotFound' }));
        return;
      }
      expose(registry, req.headers.accept).then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        (err: unknown) => sendProblem(res, err),
      );
    });
  }

  /** The address it serves on; undefined without a port. */
  async listen(): Promise<AddressInfo | undefined> {
    const { port } = this;
    if (port === undefined) return undefined;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
