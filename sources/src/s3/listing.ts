import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
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
 * Every object under the prefix, ListObjectsV2 page by page (1,000 keys a page), keeping those
 * `keep` accepts. Stops with the signal. At most `maxObjects`: past that it throws, saying so,
 * rather than hold an unbounded view in memory.
 */
export async function listObjects(
  client: S3Client,
  bucket: string,
  options: { prefix: string; keep: (key: string) => boolean; maxObjects: number; signal?: AbortSignal },
): Promise<Map<string, ObjectVersion>> {
  const out = new Map<string, ObjectVersion>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(options.prefix === '' ? {} : { Prefix: options.prefix }),
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
      { abortSignal: options.signal },
    );
    for (const object of page.Contents ?? []) {
      // A key past S3's 1,024 bytes (a store that is not S3) could not be kept in the checkpoint.
      if (
        object.Key === undefined ||
        Buffer.byteLength(object.Key) > MAX_KEY_BYTES ||
        !options.keep(object.Key)
      )
        continue;
      out.set(object.Key, {
        size: Math.max(0, object.Size ?? 0),
        // Cut: the store is not trusted to keep an ETag to the length the checkpoint takes.
        etag: (bareEtag(object.ETag) ?? '').slice(0, MAX_ETAG_CHARS),
        modified: object.LastModified?.getTime() ?? 0,
      });
    }
    if (out.size > options.maxObjects)
      throw new Error(
        `the bucket holds more than ${options.maxObjects} objects under the prefix: narrow the trigger's prefix or suffix`,
      );
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

/** The object's content type (HeadObject), undefined when it has gone since the listing. */
export async function contentTypeOf(
  client: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<{ contentType?: string } | undefined> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    });
    return head.ContentType === undefined ? {} : { contentType: head.ContentType };
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined;
    throw err;
  }
}
