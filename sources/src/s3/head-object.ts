import { S3RequestError, type SignedRequests } from './signed-requests.js';

const CODES: Readonly<Record<number, string>> = {
  301: 'PermanentRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
};

/**
 * HeadObject for the content type, which a listing lacks: the poller asks it once per new version.
 * A HEAD's answer has no body, so a failure is known by its status alone.
 */
export class ObjectHeads {
  constructor(private readonly requests: SignedRequests) {}

  /** The object's content type, undefined when it has gone since the listing. */
  async contentTypeOf(key: string, signal?: AbortSignal): Promise<{ contentType?: string } | undefined> {
    const { status, headers } = await this.requests.send(
      'HEAD',
      this.requests.pathOf(key),
      {},
      {
        readBody: false,
        signal,
      },
    );
    const type = headers['content-type'];
    if (status === 200) return type === undefined ? {} : { contentType: type };
    if (status === 404) return undefined;
    throw new S3RequestError(status, CODES[status] ?? `HTTP ${status}`);
  }
}
