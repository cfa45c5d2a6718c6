import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One publish as the endpoint received it. */
export interface PublishRequest {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/**
 * The gateway's events endpoint as a runtime sees it (gateway/src/events/events-endpoint.ts), for
 * one function, on a real node:http server on loopback: `POST /v1/events/publish` with the
 * function's token and name, answered 202 `{ id, delivered }`, 401 for another token, and 403 for
 * a subject under `nimbus.` (the gateway's own checks are tested against the gateway). It keeps
 * every request for a test to read; `silent` leaves requests unanswered, as a stuck gateway.
 */
export class TestEventsEndpoint {
  readonly requests: PublishRequest[] = [];
  silent = false;
  private published = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => void this.handle(req, res));

  constructor(
    private readonly token: string,
    private readonly who: string,
  ) {
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      body = {};
    }
    this.requests.push({ url: req.url ?? '', headers: req.headers, body });
    if (this.silent) return;
    if (req.headers.authorization !== `Bearer ${this.token}` || req.headers['x-nimbus-function'] !== this.who)
      return send(res, 401, {
        error: `the function token is not the one of ${this.who}`,
        code: 'InvalidStateToken',
      });
    if (String(body.subject).startsWith('nimbus.'))
      return send(res, 403, {
        error: `subject "${String(body.subject)}" is reserved`,
        code: 'ReservedSubject',
      });
    this.published += 1;
    send(res, 202, { id: `event-${this.published}`, delivered: true });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
