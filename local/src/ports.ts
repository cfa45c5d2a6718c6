/** One file or directory below a watched root, as one listing saw it. */
export interface FolderEntry {
  /** Relative to the root; '' is the root itself. */
  path: string;
  kind: 'dir' | 'file';
  size: number;
  mtimeMs: number;
  /** A file replaced by rename keeps its name and size but not its inode. */
  ino: number;
}

/** A handle on one directory's watch. */
export interface DirWatch {
  close(): void;
}

/** What FolderWatcher needs of the file system: a listing of a tree, and a watch on one directory. */
export interface FolderFs {
  /** The root and every directory and file below it. Throws when the root cannot be read. */
  list(root: string): Promise<FolderEntry[]>;
  /** Calls `onEvent` on any change to the entries directly in `dir`. Throws when it cannot watch. */
  watchDir(dir: string, onEvent: () => void, onError: (err: Error) => void): DirWatch;
}
