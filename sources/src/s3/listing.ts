import { ListObjectsV2Command, type ListObjectsV2CommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { bareEtag } from './object-event.js';

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
  client: S3Client,
  bucket: string,
  options: { prefix: string; keep: (key: string) => boolean; maxObjects: number; signal?: AbortSignal },
): AsyncGenerator<Map<string, ObjectVersion>> {
  const ask = (token: string | undefined): Promise<ListObjectsV2CommandOutput> => {
    const asking = client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(options.prefix === '' ? {} : { Prefix: options.prefix }),
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
      { abortSignal: options.signal },
    );
    // Asked ahead: its failure is thrown when the page is read, not unhandled while it is not yet.
    asking.catch(() => undefined);
    return asking;
  };
  let asked: Promise<ListObjectsV2CommandOutput> | undefined = ask(undefined);
  let kept = 0;
  while (asked !== undefined) {
    const page: ListObjectsV2CommandOutput = await asked;
    const token: string | undefined = page.IsTruncated ? page.NextContinuationToken : undefined;
    asked = token === undefined ? undefined : ask(token);
    const out = versionsOf(page.Contents ?? [], options.keep);
    kept += out.size;
    if (kept > options.maxObjects)
      throw new Error(
        `the bucket holds more than ${options.maxObjects} objects under the prefix: narrow the trigger's prefix or suffix`,
      );
    yield out;
  }
}

/** Every page of listPages in one map: the whole listing. */
export async function listObjects(
  client: S3Client,
  bucket: string,
  options: Parameters<typeof listPages>[2],
): Promise<Map<string, ObjectVersion>> {
  const out = new Map<string, ObjectVersion>();
  for await (const page of listPages(client, bucket, options)) for (const entry of page) out.set(...entry);
  return out;
}

function versionsOf(
  contents: readonly { Key?: string; Size?: number; ETag?: string; LastModified?: Date }[],
  keep: (key: string) => boolean,
): Map<string, ObjectVersion> {
  const out = new Map<string, ObjectVersion>();
  for (const object of contents) {
    // A key past S3's 1,024 bytes (a store that is not S3) could not be kept in the checkpoint.
    if (object.Key === undefined || Buffer.byteLength(object.Key) > MAX_KEY_BYTES || !keep(object.Key))
      continue;
    out.set(object.Key, {
      size: Math.max(0, object.Size ?? 0),
      // Cut: the store is not trusted to keep an ETag to the length the checkpoint takes.
      etag: (bareEtag(object.ETag) ?? '').slice(0, MAX_ETAG_CHARS),
      modified: object.LastModified?.getTime() ?? 0,
    });
  }
  return out;
}
