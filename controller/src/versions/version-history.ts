/** One immutable version of a Function: what shaped its pods (the revision hash) and when it was made. */
export interface VersionRecord {
  /** `v<number>`, numbered from 1 in the order versions were made. */
  readonly name: string;
  readonly number: number;
  /** The hash of the pod template and code the version runs (desired-objects.ts). */
  readonly revision: string;
  /** RFC 3339. */
  readonly createdAt: string;
}

export interface VersionHistory {
  /** Newest first. */
  readonly versions: readonly VersionRecord[];
  /** The version the spec describes now; undefined before the first is made. */
  readonly latest: string | undefined;
}

export const EMPTY_HISTORY: VersionHistory = { versions: [], latest: undefined };

/**
 * The history once the spec's current revision is seen. The same revision as the latest changes
 * nothing; a revision a kept version already runs makes that version the latest again (a spec
 * put back as it was needs no new pods, and its old version still has them); any other is a new
 * version, numbered after every version kept. Pure: the caller passes the time.
 */
export function observeRevision(history: VersionHistory, revision: string, now: string): VersionHistory {
  const latest = history.versions.find((v) => v.name === history.latest);
  if (latest?.revision === revision) return history;
  const kept = history.versions.find((v) => v.revision === revision);
  if (kept !== undefined) return { ...history, latest: kept.name };
  const number = history.versions.reduce((max, v) => Math.max(max, v.number), 0) + 1;
  const made: VersionRecord = { name: `v${number}`, number, revision, createdAt: now };
  return { versions: [made, ...history.versions], latest: made.name };
}

/**
 * Which versions stay and which go once there are more than `keep`: every version something
 * still needs (`needed`: the latest, those with traffic or a tag, a stable version under a
 * rollout, a failed candidate kept for inspection) stays whatever `keep` says, and the newest of
 * the rest fill what room is left. Pure.
 */
export function pruneVersions(
  history: VersionHistory,
  keep: number,
  needed: ReadonlySet<string>,
): { history: VersionHistory; removed: VersionRecord[] } {
  const mustStay = (v: VersionRecord) => needed.has(v.name) || v.name === history.latest;
  let room = keep - history.versions.filter(mustStay).length;
  const kept: VersionRecord[] = [];
  const removed: VersionRecord[] = [];
  for (const version of [...history.versions].sort((a, b) => b.number - a.number)) {
    if (mustStay(version)) kept.push(version);
    else if (room > 0) {
      kept.push(version);
      room--;
    } else removed.push(version);
  }
  return { history: { ...history, versions: kept }, removed };
}
