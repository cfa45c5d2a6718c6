import { type Dirent, type Stats, watch } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FolderEntry, FolderFs } from './ports.js';
import { skippedPaths } from './watch-plan.js';

/** Never code a function edits: large, and changed by package managers, not by the user. */
const SKIP = new Set(['node_modules', '.git']);

const vanished = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The real path of `path`, which need not exist yet (a state folder is made on the first
 * inline deploy): the real path of its nearest existing ancestor, with the rest appended.
 */
export async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    const parent = dirname(path);
    if (!vanished(err) || parent === path) throw err;
    return join(await realPathOf(parent), basename(path));
  }
}

async function walk(
  root: string,
  prefix: string,
  skip: ReadonlySet<string>,
  out: FolderEntry[],
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, prefix), { withFileTypes: true });
  } catch (err) {
    // A folder removed while it was being read (or an editor's temp file) is simply not there.
    if (prefix !== '' && vanished(err)) return;
    throw err;
  }
  for (const entry of entries) {
    if (SKIP.has(entry.name)) continue;
    const path = join(prefix, entry.name);
    if (skip.has(path)) continue;
    if (!entry.isDirectory() && !entry.isFile()) continue;
    let info: Stats;
    try {
      info = await stat(join(root, path));
    } catch (err) {
      if (vanished(err)) continue;
      throw err;
    }
    const kind = entry.isDirectory() ? 'dir' : 'file';
    out.push({ path, kind, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
    if (kind === 'dir') await walk(root, path, skip, out);
  }
}

/**
 * The root, then every directory and file below it in the order readdir gives (a directory
 * before what it holds), skipping node_modules, .git and the `skip` paths (local mode's state
 * folder, compared by real path; see skippedPaths). Path, size and mtime are cheap to take,
 * and they change when code does. The skipped paths are resolved on each listing, as the
 * state folder may be made, or a symlink pointed elsewhere, while local mode runs.
 */
export async function listTree(root: string, skip: readonly string[] = []): Promise<FolderEntry[]> {
  return listSkipping(root, await resolveSkipped(root, skip));
}

/** The `skip` paths below `root`, relative to it; none when the root cannot be read. */
async function resolveSkipped(root: string, skip: readonly string[]): Promise<Set<string>> {
  if (skip.length === 0) return new Set();
  const realRoot = await realpath(root).catch(() => undefined);
  return realRoot === undefined ? new Set() : skippedPaths(realRoot, await Promise.all(skip.map(realPathOf)));
}

async function listSkipping(root: string, skipped: ReadonlySet<string>): Promise<FolderEntry[]> {
  const info = await stat(root);
  const out: FolderEntry[] = [
    { path: '', kind: 'dir', size: info.size, mtimeMs: info.mtimeMs, ino: info.ino },
  ];
  await walk(root, '', skipped, out);
  return out;
}

/**
 * The file system as FolderWatcher sees it, leaving out the `skip` paths (see listTree): a
 * folder not listed is not watched, and an event for a skipped name (the state folder made in
 * a watched folder) is not heard. A watch is on a directory, never a file, and not recursive:
 * inotify reports a name replaced by rename to its directory, while a watch on the file (which
 * Node 20's recursive watch sets up on Linux) follows the old inode and goes deaf.
 */
export function folderFs(skip: readonly string[] = []): FolderFs {
  // The skipped paths as the last listing named them: a watched folder is named the same way.
  let skipped = new Set<string>();
  return {
    async list(root) {
      const relative = await resolveSkipped(root, skip);
      skipped = new Set([...relative].map((rel) => join(root, rel)));
      return listSkipping(root, relative);
    },
    watchDir(dir, onEvent, onError) {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || !skipped.has(join(dir, name))) onEvent();
      });
      watcher.on('error', onError);
      return watcher;
    },
  };
}

export const nodeFolderFs: FolderFs = folderFs();
