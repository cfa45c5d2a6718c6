import { createHash, createHmac } from 'node:crypto';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { REQUEST_TIMEOUT_MS } from './client.js';
import type { S3Credentials, S3Target } from './config.js';

/** SHA-256 of an empty body: neither a HEAD nor a listing sends one. */
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
/** The most of an answer's body read: a listing page of 1,000 keys of 1,024 bytes is about 1.5 MB. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A failed request as client.ts's statusOf and codeOf read an SDK error: its status and S3 code. */
export class S3RequestError extends Error {
  readonly $metadata: { httpStatusCode: number };

  constructor(status: number, code: string, message = code) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

type Method = 'HEAD' | 'GET';
type Query = Readonly<Record<string, string>>;
interface SendOptions {
  readonly readBody: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** An answer: its status, its headers, and its body when one was asked for. */
export interface SignedAnswer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/**
 * Requests with no body to one store (HEAD and GET), signed with SigV4 here and sent on kept-alive
 * connections. The S3 poller makes two kinds: a HEAD per new version, and a listing per 1,000
 * keys per pass. Against versitygw on 2 cores the AWS SDK spent 1.0-1.8 ms of CPU on a HEAD and
 * 15-25 µs per listed key (its middleware, endpoint rules and XML deserialisers), which a poll of
 * a large bucket pays every pass on the gateway's one thread; this spends 0.06-0.15 ms per HEAD
 * and 4-8 µs per key, the page read by list-page.ts (3,000 keys, old and new interleaved).
 *
 * A request on a kept-alive socket the store closed meanwhile fails with ECONNRESET before any
 * answer; it is sent once more on a new socket, as both kinds are safe to repeat.
 */
export class SignedRequests {
  private readonly url: URL;
  private readonly scope: { date: string; key: Buffer } = { date: '', key: Buffer.alloc(0) };
  private readonly agent: HttpAgent;

  constructor(
    private readonly target: S3Target,
    private readonly credentials: S3Credentials,
    sockets: number,
  ) {
    this.url = new URL(target.endpoint);
    const options = { keepAlive: true, maxSockets: sockets };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** `<endpoint path>/<bucket>[/<key>]`, encoded as S3 signs it. */
  pathOf(key?: string): string {
    const bucket = `${this.url.pathname.replace(/\/+$/, '')}/${encodePath(this.target.bucket)}`;
    return key === undefined ? bucket : `${bucket}/${encodePath(key)}`;
  }

  /** Sends the request; `readBody` false drops the body (a HEAD has none). Rejects only without an answer. */
  async send(method: Method, path: string, query: Query, options: SendOptions): Promise<SignedAnswer> {
    try {
      return await this.once(method, path, query, options);
    } catch (err) {
      if (!(err instanceof ReusedSocketReset)) throw err;
      return this.once(method, path, query, options);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private once(method: Method, path: string, query: Query, options: SendOptions): Promise<SignedAnswer> {
    const search = canonicalQuery(query);
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path: search === '' ? path : `${path}?${search}`,
          agent: this.agent,
          headers: this.signedHeaders(method, path, search, new Date()),
          timeout: REQUEST_TIMEOUT_MS,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // Errors are read too: their body says the S3 code.
          if (!options.readBody && status < 300) {
            res.resume();
            resolve({ status, headers: res.headers, body: '' });
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES)
              res.destroy(new Error(`the store's answer is over ${MAX_BODY_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () =>
            resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(req.reusedSocket && err.code === 'ECONNRESET' ? new ReusedSocketReset() : err),
      );
      req.end();
    });
  }

  /** SigV4 headers of a request with no body. */
  private signedHeaders(method: string, path: string, search: string, now: Date): Record<string, string> {
    const stamp = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
    const date = stamp.slice(0, 8);
    const headers: Record<string, string> = {
      host: this.url.host,
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': stamp,
      ...(this.credentials.sessionToken === undefined
        ? {}
        : { 'x-amz-security-token': this.credentials.sessionToken }),
    };
    const names = Object.keys(headers).sort();
    const canonical = [
      method,
      path,
      search,
      names.map((name) => `${name}:${headers[name]}\n`).join(''),
      names.join(';'),
      EMPTY_SHA256,
    ].join('\n');
    const scope = `${date}/${this.target.region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256(canonical)].join('\n');
    const signature = createHmac('sha256', this.signingKey(date)).update(toSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
    return headers;
  }

  /** The day's signing key, derived once a day. */
  private signingKey(date: string): Buffer {
    if (this.scope.date !== date) {
      const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
      const dated = hmac(`AWS4${this.credentials.secretAccessKey}`, date);
      this.scope.key = hmac(hmac(hmac(dated, this.target.region), 's3'), 'aws4_request');
      this.scope.date = date;
    }
    return this.scope.key;
  }
}

class ReusedSocketReset extends Error {
  constructor() {
    super('the store closed a kept-alive connection');
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A key as S3 signs its path: every UTF-8 byte but A-Z a-z 0-9 - . _ ~ and the slashes
 * percent-encoded, once. Byte by byte, so no string makes it throw.
 */
export function encodePath(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~/]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The query as SigV4 signs it and the request sends it: sorted by name, every reserved byte encoded, slashes too. */
export function canonicalQuery(query: Query): string {
  return Object.keys(query)
    .sort()
    .map(
      (name) =>
        `${encodePath(name).replaceAll('/', '%2F')}=${encodePath(query[name] ?? '').replaceAll('/', '%2F')}`,
    )
    .join('&');
}
