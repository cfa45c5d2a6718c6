import type { ObjectVersion } from './listing.js';

/**
 * The poller's view of its bucket, as it keeps it in the trigger's checkpoint: a field per object
 * key, `<modified ms> <size> <etag>` once its change is stored, `P <modified ms> <size> <etag>`
 * (pending) while it is being stored; and one more, BASELINE (the empty string, which no S3 key
 * is), once the first listing has been taken in. A pending version is how a crash between a store
 * and the checkpoint still leaves a trace: the object is known even if it goes before the next poll.
 */
export const BASELINE = '';
const BASELINE_VALUE = 'v1';
const PENDING = 'P ';

export interface SeenVersion extends ObjectVersion {
  /** Its creation was being stored, and may or may not have been. */
  readonly pending: boolean;
}

export function encodeVersion(version: ObjectVersion, pending = false): string {
  return `${pending ? PENDING : ''}${version.modified} ${version.size} ${version.etag}`;
}

/** A value this module wrote; anything else (a hand-edited field) reads as a version never seen. */
export function decodeVersion(value: string): SeenVersion {
  const pending = value.startsWith(PENDING);
  const [modified = '', size = '', ...etag] = (pending ? value.slice(PENDING.length) : value).split(' ');
  return { modified: Number(modified) || 0, size: Number(size) || 0, etag: etag.join(' '), pending };
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
  /**
   * deleted: its creation was pending (stored or not, nobody knows), so it is stored again first
   * (with its id, which the durable path drops if it had it), and the function sees both.
   */
  readonly createdFirst?: boolean;
}

/** Keys of a page of the listing that are new, of another version, or still pending: `created`, in key order. */
export function createdIn(
  view: ReadonlyMap<string, string>,
  page: ReadonlyMap<string, ObjectVersion>,
): ViewChange[] {
  const changes: ViewChange[] = [];
  for (const [key, version] of page) {
    const seenValue = view.get(key);
    const seen = seenValue === undefined ? undefined : decodeVersion(seenValue);
    if (seen === undefined || seen.pending || !sameVersion(seen, version))
      changes.push({ kind: 'created', key, version });
  }
  return changes.sort(byKey);
}

/** Keys the view has and a whole listing has not: `deleted`, in key order. */
export function deletedSince(view: ReadonlyMap<string, string>, listed: ReadonlySet<string>): ViewChange[] {
  const changes: ViewChange[] = [];
  for (const [key, value] of view) {
    if (key === BASELINE || listed.has(key)) continue;
    const seen = decodeVersion(value);
    changes.push({ kind: 'deleted', key, version: seen, ...(seen.pending ? { createdFirst: true } : {}) });
  }
  return changes.sort(byKey);
}

const byKey = (a: ViewChange, b: ViewChange) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
