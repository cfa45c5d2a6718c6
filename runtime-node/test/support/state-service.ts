import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  type MemoryStateStore,
  type StateOperation,
  applyStateOperation,
  stateErrorStatus,
} from '@nimbus/store';

const OPERATION = /^\/v1\/state\/(get|set|delete|incr|compareAndSet)$/;

/** One request as the service received it, before it decided anything. */
export interface ServiceRequest {
  readonly op: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/**
 * The gateway's state service as a runtime sees it (gateway/src/state/state-service.ts), for one
 * function: `POST /v1/state/{op}` with `Authorization: Bearer <token>` and `X-Nimbus-Function:
 * <namespace>/<name>`, answered `{"result": ...}` or `{"error", "code", "limit"?}` from a
 * MemoryStateStore, on a real node:http (or node:https) server on loopback. It keeps every request
 * for a test to read, counts connections (so a test sees whether they are kept alive), and never
 * answers a request for a key in `silentKeys`, as a service that is stuck.
 */
export class TestStateService {
  readonly requests: ServiceRequest[] = [];
  readonly silentKeys = new Set<string>();
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server;
  private readonly https: boolean;

  constructor(
    readonly store: MemoryStateStore,
    private readonly token: string,
    private readonly namespace: string,
    private readonly fn: string,
    tls?: { readonly key: string; readonly cert: string },
  ) {
    this.https = tls !== undefined;
    const handle = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = tls === undefined ? createServer(handle) : createHttpsServer(tls, handle);
    // As the gateway's: longer than a runtime keeps an idle connection.
    this.server.keepAliveTimeout = 65_000;
    this.server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on a free loopback port; resolves with the base URL a runtime is given. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `${this.https ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const op = OPERATION.exec(req.url ?? '')?.[1];
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = {};
    }
    this.requests.push({ op: op ?? String(req.url), headers: req.headers, body });
    if (op === undefined || req.method !== 'POST') {
      send(res, 404, { error: 'state operations are POST /v1/state/{op}', code: 'NotFound' });
      return;
    }
    if (this.silentKeys.has(String(body.key))) return;
    const who = `${this.namespace}/${this.fn}`;
    if (req.headers.authorization !== `Bearer ${this.token}` || req.headers['x-nimbus-function'] !== who) {
      send(res, 401, {
        error: `the state token is missing or is not the one of ${String(req.headers['x-nimbus-function'])}`,
        code: 'InvalidStateToken',
      });
      return;
    }
    try {
      const state = this.store.scoped(this.namespace, this.fn);
      const result = await applyStateOperation(state, { ...body, op } as StateOperation);
      send(res, 200, result === undefined ? {} : { result });
    } catch (error) {
      const { name, message, limit } = error as { name: string; message: string; limit?: unknown };
      send(res, stateErrorStatus(name), {
        error: message,
        code: name,
        ...(typeof limit === 'number' ? { limit } : {}),
      });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
