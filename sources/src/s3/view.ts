import type { ObjectVersion } from './listing.js';

/**
 * The poller's view of its bucket, as it keeps it in the trigger's checkpoint: a field per object
 * key, `<modified ms> <size> <etag>`, and one more, BASELINE (the empty string, which no S3 key
 * is), once the first listing has been taken in.
 */
export const BASELINE = '';
const BASELINE_VALUE = 'v1';

export function encodeVersion(version: ObjectVersion): string {
  return `${version.modified} ${version.size} ${version.etag}`;
}

/** A value this module wrote; anything else (a hand-edited field) reads as a version never seen. */
export function decodeVersion(value: string): ObjectVersion {
  const [modified = '', size = '', ...etag] = value.split(' ');
  return { modified: Number(modified) || 0, size: Number(size) || 0, etag: etag.join(' ') };
}

export function sameVersion(a: ObjectVersion, b: ObjectVersion): boolean {
  return a.modified === b.modified && a.size === b.size && a.etag === b.etag;
}

export function baselineEntry(): [string, string] {
  return [BASELINE, BASELINE_VALUE];
}

export interface ViewChange {
  readonly kind: 'created' | 'deleted';
  readonly key: string;
  /** The listed version (created), or the last version seen of a key that went (deleted). */
  readonly version: ObjectVersion;
}

/**
 * What changed between the view and a listing: keys new or with another version (created), and
 * keys the view has and the listing has not (deleted), in key order.
 */
export function changesBetween(
  view: ReadonlyMap<string, string>,
  listing: ReadonlyMap<string, ObjectVersion>,
): ViewChange[] {
  const changes: ViewChange[] = [];
  for (const [key, version] of listing) {
    const seen = view.get(key);
    if (seen === undefined || !sameVersion(decodeVersion(seen), version))
      changes.push({ kind: 'created', key, version });
  }
  for (const [key, value] of view) {
    if (key !== BASELINE && !listing.has(key))
      changes.push({ kind: 'deleted', key, version: decodeVersion(value) });
  }
  return changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
