import type { ObjectEventKind, S3Source } from '@nimbus/api';

/** Which keys and which changes of a bucket a trigger wants. */
export interface ObjectFilter {
  readonly bucket: string;
  readonly prefix: string;
  readonly suffix: string;
  readonly events: ReadonlySet<ObjectEventKind>;
}

export function filterOf(spec: S3Source): ObjectFilter {
  return {
    bucket: spec.bucket,
    prefix: spec.prefix ?? '',
    suffix: spec.suffix ?? '',
    events: new Set(spec.events ?? ['created', 'deleted']),
  };
}

/** The key is one the trigger watches (its prefix and suffix), whatever happened to it. */
export function watchesKey(filter: ObjectFilter, key: string): boolean {
  return key.startsWith(filter.prefix) && key.endsWith(filter.suffix);
}

export function wants(filter: ObjectFilter, kind: ObjectEventKind, bucket: string, key: string): boolean {
  return bucket === filter.bucket && filter.events.has(kind) && watchesKey(filter, key);
}
