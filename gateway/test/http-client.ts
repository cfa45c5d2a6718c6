import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';

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
}

/** A plain HTTP call with no connection reuse, so each test sees only its own traffic. */
export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Split by hand: URL parsing would resolve `..` and hide what a hostile client really sends.
    const match = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url);
    if (match === null) throw new Error(`not an http URL with a port: ${url}`);
    const [, hostname, port, path] = match;
    const req = request({
      hostname,
      port: Number(port),
      path: path ?? '/',
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
      signal: options.signal,
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
    const { body } = options;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else
      (async () => {
        for await (const chunk of body) req.write(chunk);
        req.end();
      })().catch((err: unknown) => req.destroy(err as Error));
  });
}

/** Polls `probe` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
  what = 'condition',
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
    await new Promise((r) => setTimeout(r, 20));
  }
}
