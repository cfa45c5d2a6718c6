import { isAbsolute, relative, sep } from 'node:path';
import type { FolderEntry } from './ports.js';

/** What a listing says about a tree: each path's stamp, and the inode of each directory. */
export interface TreeState {
  /** Path to `size:mtime:inode` for a file, `dir:inode` for a directory. */
  stamps: ReadonlyMap<string, string>;
  dirs: ReadonlyMap<string, number>;
}

export function treeState(entries: readonly FolderEntry[]): TreeState {
  const stamps = new Map<string, string>();
  const dirs = new Map<string, number>();
  for (const e of entries) {
    if (e.kind === 'dir') {
      dirs.set(e.path, e.ino);
      stamps.set(e.path, `dir:${e.ino}`);
    } else stamps.set(e.path, `${e.size}:${e.mtimeMs}:${e.ino}`);
  }
  return { stamps, dirs };
}

/** Whether anything was added, removed, written or replaced between two listings. */
export function treeChanged(before: TreeState, after: TreeState): boolean {
  if (before.stamps.size !== after.stamps.size) return true;
  for (const [path, stamp] of after.stamps) if (before.stamps.get(path) !== stamp) return true;
  return false;
}

/**
 * Which directory watches to close and which to open so that each directory listed has one on
 * its current inode: a directory replaced under the same name needs a new watch, as the old one
 * follows the inode that went away.
 */
export function planWatches(
  watched: ReadonlyMap<string, number>,
  dirs: ReadonlyMap<string, number>,
): { close: string[]; open: string[] } {
  const close = [...watched].filter(([dir, ino]) => dirs.get(dir) !== ino).map(([dir]) => dir);
  const open = [...dirs].filter(([dir, ino]) => watched.get(dir) !== ino).map(([dir]) => dir);
  return { close, open };
}

/**
 * The paths below a watched root, relative to it, that a listing leaves out because local mode
 * writes there itself (its state folder): were they listed, each write would be a change, and
 * each reload writes again. Both sides are real paths, so `./.nimbus`, an absolute path and a
 * symlink to the same folder all match. A path that is the root itself, above it or beside it
 * is not below the root and leaves nothing out.
 */
export function skippedPaths(realRoot: string, realSkip: readonly string[]): Set<string> {
  const skipped = new Set<string>();
  for (const path of realSkip) {
    const rel = relative(realRoot, path);
    if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) continue;
    skipped.add(rel);
  }
  return skipped;
}
