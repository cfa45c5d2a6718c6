import { type Dirent, type Stats, watch } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FolderEntry, FolderFs } from './ports.js';

/** Never code a function edits: large, and changed by package managers, not by the user. */
const SKIP = new Set(['node_modules', '.git']);

const vanished = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

async function walk(root: string, prefix: string, out: FolderEntry[]): Promise<void> {
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
    if (kind === 'dir') await walk(root, path, out);
  }
}

/**
 * The root, then every directory and file below it in the order readdir gives (a directory
 * before what it holds), skipping node_modules and .git. Path, size and mtime are cheap to
 * take, and they change when code does.
 */
export async function listTree(root: string): Promise<FolderEntry[]> {
  const info = await stat(root);
  const out: FolderEntry[] = [
    { path: '', kind: 'dir', size: info.size, mtimeMs: info.mtimeMs, ino: info.ino },
  ];
  await walk(root, '', out);
  return out;
}

/**
 * The file system as FolderWatcher sees it. A watch is on a directory, never a file, and not
 * recursive: inotify reports a name replaced by rename to its directory, while a watch on the
 * file (which Node 20's recursive watch sets up on Linux) follows the old inode and goes deaf.
 */
export const nodeFolderFs: FolderFs = {
  list: listTree,
  watchDir(dir, onEvent, onError) {
    const watcher = watch(dir, { persistent: false }, () => onEvent());
    watcher.on('error', onError);
    return watcher;
  },
};
