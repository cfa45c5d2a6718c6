import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer | AsyncIterable<Buffer>;
  signal?: AbortSignal;
  /** Fail when no answer has come within this time. */
  timeoutMs?: number;
}

function hostAndPort(base: string): { hostname: string; port: number } {
  const { hostname, port } = new URL(base);
  return { hostname, port: Number(port) };
}

/**
 * One HTTP call on a connection of its own, so a test sees only its own traffic and a killed
 * server leaves nothing pooled behind. The path is sent as written: URL parsing would resolve
 * `..` and hide what a hostile client really sends.
 */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      ...hostAndPort(base),
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
      signal: options.signal,
    });
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error(`no answer to ${path} in time`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text,
          json: () => JSON.parse(text),
        });
      });
    });
    const { body } = options;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    (async () => {
      for await (const chunk of body) req.write(chunk);
      req.end();
    })().catch((err: unknown) => req.destroy(err as Error));
  });
}

/**
 * Writes raw bytes and collects what comes back until the server closes the connection:
 * for requests no HTTP client would send (control characters, headers that never end).
 */
export function rawExchange(
  base: string,
  bytes: string,
  deadlineMs: number,
): Promise<{ text: string; ms: number }> {
  const { hostname, port } = hostAndPort(base);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for more than ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // a reset after the reply is fine; 'close' settles it
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started });
    });
    socket.write(bytes);
  });
}
