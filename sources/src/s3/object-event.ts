import { createHash } from 'node:crypto';
import type { ObjectEventKind } from '@nimbus/api';
import type { SourceEvent } from '../source.js';

/** One change of one object, from a notification or from comparing two listings. */
export interface ObjectChange {
  readonly kind: ObjectEventKind;
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** Without quotes; undefined when the store did not say (a notified delete). */
  readonly etag?: string;
  readonly contentType?: string;
  /** As S3 names it, without the `s3:` some stores put first: `ObjectCreated:Put`. */
  readonly eventName: string;
  /** Epoch ms. */
  readonly eventTime: number;
  /**
   * What tells this change from every other change of the same key, the same whenever it is read
   * again: a notification's sequencer and time, a listing's ETag, size and modification time.
   */
  readonly identity: readonly string[];
}

export const OBJECT_EVENT_TYPE: Readonly<Record<ObjectEventKind, string>> = {
  created: 'dev.nimbus.s3.object.created',
  deleted: 'dev.nimbus.s3.object.deleted',
};

/**
 * The change as the event the function gets: the object's facts as JSON, never its body. The id
 * is a hash of the bucket, the key, the kind and the change's identity, so a change read twice
 * (a notification sent again, a listing repeated after a crash) is one event downstream.
 */
export function objectEvent(source: string, change: ObjectChange): SourceEvent {
  const id = createHash('sha256')
    .update(JSON.stringify([change.bucket, change.key, change.kind, ...change.identity]))
    .digest('hex')
    .slice(0, 40);
  const data = {
    bucket: change.bucket,
    key: change.key,
    size: change.size,
    etag: change.etag ?? null,
    ...(change.contentType === undefined ? {} : { contentType: change.contentType }),
    eventName: change.eventName,
    eventTime: new Date(change.eventTime).toISOString(),
  };
  return {
    id: `s3-${id}`,
    type: OBJECT_EVENT_TYPE[change.kind],
    source,
    subject: subjectOf(change.key),
    time: change.eventTime,
    contentType: 'application/json',
    data: Buffer.from(JSON.stringify(data)),
  };
}

/**
 * The key as a header can carry it (`ce-subject`): printable ASCII as it is, and every other
 * character, space and `%` itself percent-encoded as UTF-8. The data has the key exactly.
 */
export function subjectOf(key: string): string {
  return key.replace(/[^\x21-\x24\x26-\x7e]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/** An ETag without the quotes S3 puts around it. */
export function bareEtag(etag: string | undefined | null): string | undefined {
  if (etag === undefined || etag === null || etag === '') return undefined;
  return etag.replace(/^"(.*)"$/s, '$1');
}
