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
  body?: string | Buffer;
}

/**
 * One HTTP call on a connection of its own. The path is sent as written (no URL parsing,
 * which would resolve `..`), so tests can send what a hostile client would.
 */
export function send(base: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({
      hostname,
      port: Number(port),
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
    });
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
    req.end(options.body);
  });
}

/**
 * Writes raw bytes to a server and collects what comes back until it closes the connection.
 * For requests no HTTP client would send: control characters, headers that never finish.
 */
export function rawExchange(
  base: string,
  bytes: string,
  deadlineMs: number,
): Promise<{ text: string; ms: number }> {
  const { hostname, port } = new URL(base);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for more than ${deadlineMs} ms`));
    }, deadlineMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {}); // a reset after the reply is fine; the close below settles it
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started });
    });
    socket.write(bytes);
  });
}

/** Polls `probe` until it gives a value other than undefined; fails after `ms` with what it waited for. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Sends until the answer is not 503 (a replica still starting), then returns it. */
export function once503Clears(
  base: string,
  path: string,
  options: SendOptions = {},
  ms = 15_000,
): Promise<Reply> {
  return eventually(
    async () => {
      const reply = await send(base, path, options);
      return reply.status === 503 ? undefined : reply;
    },
    ms,
    `${path} to have a ready replica`,
  );
}
