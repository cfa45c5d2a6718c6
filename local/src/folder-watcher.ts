import { join } from 'node:path';
import type { Clock, Logger } from '@nimbus/api';
import { nodeFolderFs } from './folder-listing.js';
import type { DirWatch, FolderFs } from './ports.js';
import { type TreeState, planWatches, treeChanged, treeState } from './watch-plan.js';

export interface WatchTiming {
  /** How long events must stop before a reload: an editor's save is several events. */
  quietMs: number;
  /** How often the tree is listed and compared with the last listing. */
  pollMs: number;
}

export const WATCH_TIMING: WatchTiming = Object.freeze({ quietMs: 100, pollMs: 1000 });

/**
 * Calls `onChange` once after a burst of changes in a folder tree: the Function files, and the
 * `source.path` folders inside it.
 *
 * Two ways to notice, because Node 20's recursive fs.watch on Linux goes deaf to a file once it
 * is replaced by rename (sed -i, an editor's safe write). First, a watch on each directory, not
 * on files: a directory keeps its inode when a name in it is replaced, so it hears every edit at
 * once; after each burst the tree is listed again, to watch new directories and re-watch one
 * replaced under the same name. Second, every `pollMs` the listing (path, size, mtime, inode: one
 * stat per file) is compared with the last one, for what no event reported: a folder written
 * before its watch was set, a file system without inotify (a network mount, WSL's /mnt/c), a
 * watch the kernel refused (inotify limits). That costs one stat per file a second, node_modules
 * left out: less than one reload, which reads every file.
 */
export class FolderWatcher {
  private readonly watches = new Map<string, { ino: number; watch: DirWatch }>();
  /** Directories it could not watch and has said so; said again only after one was watched. */
  private readonly unwatched = new Set<string>();
  /** The last listing taken; kept while the folder cannot be listed. */
  private state: TreeState = treeState([]);
  private quiet: unknown;
  private poll: unknown;
  private scanning: Promise<void> | undefined;
  private again = false;
  /** An event came since the last listing began: reload even if the listing looks the same. */
  private heard = false;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly onChange: () => void,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly timing: WatchTiming = WATCH_TIMING,
    private readonly fs: FolderFs = nodeFolderFs,
  ) {}

  /**
   * Resolves once the first listing is taken and the watches set: later changes are seen.
   * Rejects when the folder cannot be listed, as a mistyped folder should stop `npm start`.
   */
  async start(): Promise<void> {
    try {
      this.state = treeState(await this.fs.list(this.dir));
    } catch (err) {
      throw new Error(`cannot watch ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    if (this.stopped) return;
    this.rewatch(this.state.dirs);
    this.schedulePoll();
  }

  stop(): void {
    this.stopped = true;
    if (this.quiet !== undefined) this.clock.clearTimeout(this.quiet);
    if (this.poll !== undefined) this.clock.clearTimeout(this.poll);
    for (const { watch } of this.watches.values()) watch.close();
    this.watches.clear();
  }

  private heardEvent(): void {
    if (this.stopped) return;
    this.heard = true;
    if (this.quiet !== undefined) this.clock.clearTimeout(this.quiet);
    this.quiet = this.clock.setTimeout(() => {
      this.quiet = undefined;
      void this.scan();
    }, this.timing.quietMs);
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.poll = this.clock.setTimeout(() => {
      this.poll = undefined;
      void this.scan().then(() => this.schedulePoll());
    }, this.timing.pollMs);
  }

  /** One listing at a time; a call during one gets another one after it. */
  private scan(): Promise<void> {
    if (this.scanning !== undefined) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        await this.scanOnce();
      } while (this.again && !this.stopped);
      this.scanning = undefined;
    })();
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const heard = this.heard;
    this.heard = false;
    let next: TreeState;
    try {
      next = treeState(await this.fs.list(this.dir));
    } catch (err) {
      if (!this.failing)
        this.log.warn('cannot list the functions folder; trying again', { dir: this.dir, err });
      this.failing = true;
      // The reload says what is wrong with the folder, as it would without a watcher.
      if (heard && !this.stopped) this.onChange();
      return;
    }
    this.failing = false;
    if (this.stopped) return;
    this.rewatch(next.dirs);
    const previous = this.state;
    this.state = next;
    if (heard || treeChanged(previous, next)) this.onChange();
  }

  private rewatch(dirs: ReadonlyMap<string, number>): void {
    const watched = new Map([...this.watches].map(([dir, w]) => [dir, w.ino]));
    const plan = planWatches(watched, dirs);
    for (const dir of plan.close) {
      this.watches.get(dir)?.watch.close();
      this.watches.delete(dir);
    }
    for (const dir of plan.open) {
      const path = join(this.dir, dir);
      try {
        const watch = this.fs.watchDir(
          path,
          () => this.heardEvent(),
          (err) => this.lost(dir, err),
        );
        this.watches.set(dir, { ino: dirs.get(dir) as number, watch });
        this.unwatched.delete(dir);
      } catch (err) {
        if (!this.unwatched.has(dir))
          this.log.warn('cannot watch a folder; its changes are seen within a poll', {
            dir: path,
            pollMs: this.timing.pollMs,
            err,
          });
        this.unwatched.add(dir);
      }
    }
    for (const dir of this.unwatched) if (!dirs.has(dir)) this.unwatched.delete(dir);
  }

  /** A watch that failed is dropped and set again by the next listing, which comes soon. */
  private lost(dir: string, err: Error): void {
    this.log.warn('watching a folder failed; watching it again', { dir: join(this.dir, dir), err });
    this.watches.get(dir)?.watch.close();
    this.watches.delete(dir);
    this.heardEvent();
  }
}
