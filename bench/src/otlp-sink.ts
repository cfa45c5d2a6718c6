import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Where the traced gateway's spans go in the benchmark: an OTLP/HTTP endpoint on loopback that
 * reads each export whole and answers it, counting what arrived. It stands in for a collector so
 * the cost measured is the gateway's own (recording, batching, serialising, sending), not a
 * backend's.
 */
export class OtlpSink {
  private exports = 0;
  private bytes = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpSink> {
    const server = createServer();
    const sink = new OtlpSink(server);
    server.on('request', (req, res) => {
      req.on('data', (chunk: Buffer) => {
        sink.bytes += chunk.length;
      });
      req.on('end', () => {
        sink.exports++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  /** Batches and bytes received so far. */
  received(): { exports: number; bytes: number } {
    return { exports: this.exports, bytes: this.bytes };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
