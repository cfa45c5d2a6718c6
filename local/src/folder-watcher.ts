import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';

/**
 * Calls `onChange` once after a burst of file events in a folder (an editor's save is several
 * events). Recursive, so edits to a `source.path` folder inside it are seen too.
 */
export class FolderWatcher {
  private watcher: FSWatcher | undefined;
  private pending: unknown;

  constructor(
    private readonly dir: string,
    private readonly onChange: () => void,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly quietMs = 100,
  ) {}

  start(): void {
    this.watcher = watch(this.dir, { recursive: true }, () => {
      if (this.pending !== undefined) this.clock.clearTimeout(this.pending);
      this.pending = this.clock.setTimeout(() => {
        this.pending = undefined;
        this.onChange();
      }, this.quietMs);
    });
    this.watcher.on('error', (err) =>
      this.log.error('watching the functions folder failed', { dir: this.dir, err }),
    );
  }

  stop(): void {
    if (this.pending !== undefined) this.clock.clearTimeout(this.pending);
    this.watcher?.close();
  }
}
