import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '@nimbus/api';
import type { Registry } from 'prom-client';
import { inject, injectable } from 'tsyringe';
import type { AsyncFrontDoor } from '../async/async-front-door.js';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { checkScope } from '../auth/require-scope.js';
import type { GatewayConfig } from '../config.js';
import { ASYNC_PREFIX, INVOKE_PREFIX } from '../invoke/function-path.js';
import type { Invoker } from '../invoke/invoker.js';
import { expose } from '../metrics/exposition.js';
import type { Readiness } from '../ports.js';
import type { EventSourceParts } from '../sources/event-source-parts.js';
import { WEBHOOK_PREFIX } from '../sources/pushed-sources.js';
import { TOKENS } from '../tokens.js';
import { UI_PREFIX, type UiAssets } from '../ui/ui-assets.js';
import { problems, sendProblem } from './problems.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
};

/**
 * The gateway's HTTP server. The invoke path is matched first and served by plain node:http;
 * the management API behind /system is an express app, where a few microseconds do not matter.
 */
@injectable()
export class GatewayServer {
  private readonly server: Server;

  constructor(
    @inject(TOKENS.Config) private readonly config: GatewayConfig,
    @inject(TOKENS.Invoker) private readonly invoker: Invoker,
    @inject(TOKENS.Registry) private readonly registry: Registry,
    @inject(TOKENS.SystemApp) private readonly system: Handler,
    @inject(TOKENS.Readiness) private readonly readiness: Readiness,
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.AsyncFrontDoor) private readonly asyncDoor: AsyncFrontDoor,
    @inject(TOKENS.ApiKeys) private readonly keys: ApiKeyVerifier,
    @inject(TOKENS.UiAssets) private readonly ui: Pick<UiAssets, 'handle'>,
    @inject(TOKENS.EventSourceParts) private readonly sources: Pick<EventSourceParts, 'pushed'>,
  ) {
    this.server = createServer(
      {
        // A client that trickles its headers is cut off instead of holding a socket.
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
        keepAliveTimeout: 65_000,
      },
      (req, res) => this.dispatch(req, res),
    );
    // Without this listener Node answers `Expect: 100-continue` with 100 before the request is
    // even seen, and the client sends a body the gateway is about to refuse.
    this.server.on('checkContinue', (req, res) => this.checkContinue(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.clientError(err, socket),
    );
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url as string;
    if (url.startsWith(INVOKE_PREFIX)) {
      this.invoker.handle(req, res);
      return;
    }
    if (url.startsWith(ASYNC_PREFIX)) {
      this.asyncDoor.handle(req, res);
      return;
    }
    if (url.startsWith(WEBHOOK_PREFIX)) {
      this.sources.pushed.handle(req, res);
      return;
    }
    const path = url.split('?', 1)[0] as string;
    switch (path) {
      case '/healthz':
        json(res, 200, { status: 'ok' });
        return;
      case '/readyz': {
        const reason = this.readiness.notReadyReason();
        json(
          res,
          reason === undefined ? 200 : 503,
          reason === undefined ? { status: 'ready' } : { status: 'not ready', reason },
        );
        return;
      }
      case '/metrics': {
        // Its series name every function, key-protected ones too: for admins here, and for
        // Prometheus on NIMBUS_METRICS_PORT.
        const denied = checkScope(this.keys, req.headers.authorization, 'admin');
        if (denied !== undefined) {
          sendProblem(res, denied);
          return;
        }
        expose(this.registry, req.headers.accept).then(
          ({ contentType, body }) => {
            res.writeHead(200, { 'content-type': contentType });
            res.end(body);
          },
          (err: unknown) => sendProblem(res, err),
        );
        return;
      }
    }
    if (path === '/system' || path.startsWith('/system/')) {
      this.system(req, res);
      return;
    }
    if (path === UI_PREFIX || path.startsWith(`${UI_PREFIX}/`)) {
      this.ui.handle(req, res);
      return;
    }
    // The Functions' own routes, after every path of the gateway's own.
    if (this.invoker.serveRoute(req, res)) return;
    sendProblem(res, problems.routeNotFound(path));
  }

  /**
   * `Expect: 100-continue`: a declared body over the limit gets its 413 at once, with nothing read
   * and no 100 sent, and the connection closes. Anything else is told to go on and dispatched as
   * usual; it may still be refused (auth, an unknown function) before its body is read.
   */
  private checkContinue(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    const { maxBodyBytes, async } = this.config;
    const url = req.url ?? '';
    const limit =
      url.startsWith(ASYNC_PREFIX) || url.startsWith(WEBHOOK_PREFIX)
        ? Math.min(maxBodyBytes, async.maxBodyBytes)
        : maxBodyBytes;
    if (declared > limit) {
      res.setHeader('connection', 'close');
      sendProblem(res, problems.bodyTooLarge(limit));
      return;
    }
    res.writeContinue();
    this.dispatch(req, res);
  }

  /** Requests the HTTP parser refuses (control characters, oversized headers) get JSON, not silence. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({
      error: `malformed request: ${err.code ?? err.message}`,
      code: 'MalformedRequest',
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : status === 408 ? 'Request Timeout' : 'Request Header Fields Too Large'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    this.log.debug('refused a malformed request', { code: err.code });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Stops accepting connections and waits for requests in flight. Keep-alive connections are
   * closed as soon as they fall idle; after `graceMs` (when given) the rest are cut.
   */
  async close(graceMs?: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const sweep = setInterval(() => this.server.closeIdleConnections(), 100);
    const cut =
      graceMs === undefined ? undefined : setTimeout(() => this.server.closeAllConnections(), graceMs);
    this.server.closeIdleConnections();
    await closed;
    clearInterval(sweep);
    clearTimeout(cut);
  }
}
