import { type ListPage, type ListedObject, listError, parseListPage } from './list-page.js';
import { bareEtag } from './object-event.js';
import type { SignedRequests } from './signed-requests.js';

const MAX_KEY_BYTES = 1_024;
const MAX_ETAG_CHARS = 256;

/** What a listing says of one object: enough to tell a new version from the one seen before. */
export interface ObjectVersion {
  readonly size: number;
  readonly etag: string;
  /** LastModified, epoch ms. */
  readonly modified: number;
}

/**
 * The objects under the prefix that `keep` accepts, one ListObjectsV2 page (up to 1,000 keys) at a
 * time, in the store's key order. The next page is asked for while the caller works on this one,
 * so a pass over a large bucket does not wait on the store twice. Stops with the signal. Past
 * `maxObjects` kept keys it throws, saying so, rather than hold an unbounded view in memory.
 */
export async function* listPages(
  requests: SignedRequests,
  options: { prefix: string; keep: (key: string) => boolean; maxObjects: number; signal?: AbortSignal },
): AsyncGenerator<Map<string, ObjectVersion>> {
  const ask = async (token: string | undefined): Promise<ListPage> => {
    const query: Record<string, string> = { 'list-type': '2' };
    if (options.prefix !== '') query.prefix = options.prefix;
    if (token !== undefined) query['continuation-token'] = token;
    const answer = await requests.send('GET', requests.pathOf(), query, {
      readBody: true,
      signal: options.signal,
    });
    if (answer.status !== 200) throw listError(answer.status, answer.body);
    return parseListPage(answer.body);
  };
  const askAhead = (token: string | undefined): Promise<ListPage> => {
    const asking = ask(token);
    // Asked ahead: its failure is thrown when the page is read, not unhandled while it is not yet.
    asking.catch(() => undefined);
    return asking;
  };
  let asked: Promise<ListPage> | undefined = askAhead(undefined);
  let kept = 0;
  while (asked !== undefined) {
    const page: ListPage = await asked;
    asked = page.next === undefined ? undefined : askAhead(page.next);
    const out = versionsOf(page.objects, options.keep);
    kept += out.size;
    if (kept > options.maxObjects)
      throw new Error(
        `the bucket holds more than ${options.maxObjects} objects under the prefix: narrow the trigger's prefix or suffix`,
      );
    yield out;
  }
}

function versionsOf(
  objects: readonly ListedObject[],
  keep: (key: string) => boolean,
): Map<string, ObjectVersion> {
  const out = new Map<string, ObjectVersion>();
  for (const object of objects) {
    // A key past S3's 1,024 bytes (a store that is not S3) could not be kept in the checkpoint.
    if (Buffer.byteLength(object.key) > MAX_KEY_BYTES || !keep(object.key)) continue;
    const size = Number(object.size);
    const modified = Date.parse(object.lastModified);
    out.set(object.key, {
      size: Number.isSafeInteger(size) && size > 0 ? size : 0,
      // Cut: the store is not trusted to keep an ETag to the length the checkpoint takes.
      etag: (bareEtag(object.etag) ?? '').slice(0, MAX_ETAG_CHARS),
      modified: Number.isNaN(modified) ? 0 : modified,
    });
  }
  return out;
}
