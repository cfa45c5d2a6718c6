import { createHash, createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { REQUEST_TIMEOUT_MS } from './client.js';
import type { S3Credentials, S3Target } from './config.js';

/** SHA-256 of an empty body: a HEAD sends none. */
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** A failed HEAD as client.ts's statusOf and codeOf read an SDK error. */
export class HeadObjectError extends Error {
  readonly $metadata: { httpStatusCode: number };

  constructor(status: number, code: string) {
    super(code);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

const CODES: Readonly<Record<number, string>> = {
  301: 'PermanentRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
};

/**
 * HeadObject on kept-alive connections, signed with SigV4 here: the poller asks it once per new
 * version, only for the content type. Against versitygw on 2 busy cores the AWS SDK spent 1.0-1.8
 * ms of CPU on each (its middleware, endpoint rules and response parsing), a ceiling of 550-1,000
 * HEADs/s on the gateway's one thread before the store is asked anything; this spends 0.25-0.5 ms.
 * Listing, whose cost is per page of 1,000 keys, stays with the SDK.
 */
export class ObjectHeads {
  private readonly url: URL;
  private readonly scope: { date: string; key: Buffer } = { date: '', key: Buffer.alloc(0) };
  private readonly agent: HttpAgent;

  constructor(
    private readonly target: S3Target,
    private readonly credentials: S3Credentials,
    concurrency: number,
  ) {
    this.url = new URL(target.endpoint);
    const options = { keepAlive: true, maxSockets: concurrency };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** The object's content type, undefined when it has gone since the listing. */
  contentTypeOf(key: string, signal?: AbortSignal): Promise<{ contentType?: string } | undefined> {
    const path = `${this.url.pathname.replace(/\/+$/, '')}/${encodePath(this.target.bucket)}/${encodePath(key)}`;
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          host: this.url.hostname,
          port: this.url.port,
          method: 'HEAD',
          path,
          agent: this.agent,
          headers: this.signedHeaders(path, new Date()),
          timeout: REQUEST_TIMEOUT_MS,
          ...(signal === undefined ? {} : { signal }),
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          const type = res.headers['content-type'];
          if (status === 200) resolve(type === undefined ? {} : { contentType: type });
          else if (status === 404) resolve(undefined);
          else reject(new HeadObjectError(status, CODES[status] ?? `HTTP ${status}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** SigV4 headers of a HEAD with no query and no body. */
  private signedHeaders(path: string, now: Date): Record<string, string> {
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
      'HEAD',
      path,
      '',
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
