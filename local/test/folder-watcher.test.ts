import assert from 'node:assert/strict';
import { type Logger, createLogger } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import { FolderWatcher } from '../src/folder-watcher.js';
import type { DirWatch, FolderEntry, FolderFs } from '../src/ports.js';

const ROOT = '/fns';

/** A folder tree in memory: a test edits `entries`, fires a directory's events, or refuses a watch. */
class FakeFolderFs implements FolderFs {
  entries: FolderEntry[] = [
    { path: '', kind: 'dir', size: 0, mtimeMs: 0, ino: 1 },
    { path: 'a.yaml', kind: 'file', size: 10, mtimeMs: 0, ino: 2 },
  ];
  readonly watching = new Map<string, { onEvent: () => void; onError: (err: Error) => void }>();
  readonly closed: string[] = [];
  readonly refused = new Set<string>();
  failList: Error | undefined;

  async list(root: string): Promise<FolderEntry[]> {
    assert.equal(root, ROOT);
    if (this.failList !== undefined) throw this.failList;
    return this.entries.map((e) => ({ ...e }));
  }

  watchDir(dir: string, onEvent: () => void, onError: (err: Error) => void): DirWatch {
    if (this.refused.has(dir)) throw new Error('ENOSPC: System limit for number of file watchers reached');
    this.watching.set(dir, { onEvent, onError });
    return {
      close: () => {
        this.watching.delete(dir);
        this.closed.push(dir);
      },
    };
  }

  emit(dir = ROOT): void {
    const watch = this.watching.get(dir);
    assert.ok(watch, `nothing watches ${dir}`);
    watch.onEvent();
  }

  /** Replaces an entry (by path) or adds it. */
  put(entry: FolderEntry): void {
    this.entries = [...this.entries.filter((e) => e.path !== entry.path), entry];
  }
}

describe('FolderWatcher', () => {
  let clock: ManualClock;
  let fs: FakeFolderFs;
  let changes: number;
  let logs: { level: string; msg: string }[];
  let watcher: FolderWatcher;

  beforeEach(async () => {
    clock = new ManualClock(1_000_000);
    fs = new FakeFolderFs();
    changes = 0;
    logs = [];
    const log: Logger = createLogger({}, 'debug', (line) => logs.push(JSON.parse(line)));
    watcher = new FolderWatcher(ROOT, () => changes++, clock, log, { quietMs: 100, pollMs: 1000 }, fs);
  });
  afterEach(() => watcher.stop());

  it('watches the root once started, and calls nothing for the first listing', async () => {
    await watcher.start();
    assert.deepEqual([...fs.watching.keys()], [ROOT]);
    await clock.advanceAndSettle(5000);
    assert.equal(changes, 0);
  });

  it('fails to start, naming the folder, when it cannot list it', async () => {
    fs.failList = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
    await assert.rejects(watcher.start(), (err: Error) => {
      assert.equal(err.message, `cannot watch ${ROOT}: ENOENT: no such file or directory`);
      assert.equal(err.cause, fs.failList);
      return true;
    });
    assert.equal(fs.watching.size, 0);
    assert.equal(clock.pending, 0);
  });

  it('calls once, quietMs after the last event of a burst, even if the listing looks the same', async () => {
    // The same listing: two writes of the same size within one mtime tick look alike.
    await watcher.start();
    fs.emit();
    await clock.advanceAndSettle(50);
    fs.emit();
    await clock.advanceAndSettle(50);
    fs.emit();
    await clock.advanceAndSettle(99);
    assert.equal(changes, 0, 'still within the burst');
    await clock.advanceAndSettle(1);
    assert.equal(changes, 1);
    await clock.advanceAndSettle(3000);
    assert.equal(changes, 1, 'one burst, one call');
  });

  it('finds a change no event reported at the next poll, a file replaced by rename included', async () => {
    await watcher.start();
    fs.put({ path: 'a.yaml', kind: 'file', size: 10, mtimeMs: 0, ino: 99 });
    await clock.advanceAndSettle(999);
    assert.equal(changes, 0);
    await clock.advanceAndSettle(1);
    assert.equal(changes, 1);
    fs.put({ path: 'b.yaml', kind: 'file', size: 3, mtimeMs: 5, ino: 100 });
    await clock.advanceAndSettle(1000);
    assert.equal(changes, 2);
    await clock.advanceAndSettle(5000);
    assert.equal(changes, 2, 'nothing changed since');
  });

  it('watches a new folder, watches again one replaced under its name, and drops a removed one', async () => {
    fs.put({ path: 'src', kind: 'dir', size: 0, mtimeMs: 0, ino: 3 });
    await watcher.start();
    assert.deepEqual([...fs.watching.keys()].sort(), [ROOT, `${ROOT}/src`]);

    fs.put({ path: 'lib', kind: 'dir', size: 0, mtimeMs: 0, ino: 4 });
    fs.emit();
    await clock.advanceAndSettle(100);
    assert.ok(fs.watching.has(`${ROOT}/lib`));

    fs.put({ path: 'src', kind: 'dir', size: 0, mtimeMs: 0, ino: 5 });
    fs.emit();
    await clock.advanceAndSettle(100);
    assert.deepEqual(fs.closed, [`${ROOT}/src`]);
    assert.ok(fs.watching.has(`${ROOT}/src`), 'the new src is watched');
    const before = changes;
    fs.emit(`${ROOT}/src`);
    await clock.advanceAndSettle(100);
    assert.equal(changes, before + 1, 'an event in the new src is heard');

    fs.entries = fs.entries.filter((e) => e.path !== 'lib');
    await clock.advanceAndSettle(1000);
    assert.deepEqual(fs.closed, [`${ROOT}/src`, `${ROOT}/lib`]);
    assert.ok(!fs.watching.has(`${ROOT}/lib`));
  });

  it('polls a folder it cannot watch, says so once, and watches it when it can', async () => {
    fs.put({ path: 'src', kind: 'dir', size: 0, mtimeMs: 0, ino: 3 });
    fs.refused.add(`${ROOT}/src`);
    await watcher.start();
    await clock.advanceAndSettle(3000);
    const warned = logs.filter((l) => l.msg === 'cannot watch a folder; its changes are seen within a poll');
    assert.equal(warned.length, 1);
    fs.put({ path: 'src/index.mjs', kind: 'file', size: 1, mtimeMs: 7, ino: 8 });
    await clock.advanceAndSettle(1000);
    assert.equal(changes, 1, 'the poll saw the edit');
    fs.refused.clear();
    await clock.advanceAndSettle(1000);
    assert.ok(fs.watching.has(`${ROOT}/src`));
  });

  it('sets a watch that failed again, and calls for what it may have missed', async () => {
    await watcher.start();
    fs.watching.get(ROOT)?.onError(new Error('EPERM'));
    assert.deepEqual(fs.closed, [ROOT]);
    await clock.advanceAndSettle(100);
    assert.ok(fs.watching.has(ROOT));
    assert.equal(changes, 1);
    assert.ok(
      logs.some((l) => l.level === 'warn' && l.msg === 'watching a folder failed; watching it again'),
    );
  });

  it('logs a folder it cannot list once, keeps trying, and still calls for an event', async () => {
    await watcher.start();
    fs.failList = new Error('EACCES');
    await clock.advanceAndSettle(3000);
    assert.equal(logs.filter((l) => l.msg === 'cannot list the functions folder; trying again').length, 1);
    assert.equal(changes, 0);
    fs.emit();
    await clock.advanceAndSettle(100);
    assert.equal(changes, 1, 'the reload reports what is wrong with the folder');
    fs.failList = undefined;
    fs.put({ path: 'a.yaml', kind: 'file', size: 11, mtimeMs: 9, ino: 2 });
    await clock.advanceAndSettle(1000);
    assert.equal(changes, 2);
  });

  it('runs one listing at a time, and another after it for an event during it', async () => {
    await watcher.start();
    let release: () => void = () => {};
    let listings = 0;
    const list = fs.list.bind(fs);
    fs.list = async (root) => {
      listings++;
      if (listings === 1)
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      return list(root);
    };
    fs.emit();
    await clock.advanceAndSettle(100);
    assert.equal(listings, 1, 'the first listing is held');
    fs.emit();
    await clock.advanceAndSettle(100);
    assert.equal(listings, 1, 'no second listing while the first runs');
    release();
    await clock.advanceAndSettle(0);
    assert.equal(listings, 2);
    assert.equal(changes, 2);
  });

  it('stops: no timer left, no watch open, no call after', async () => {
    fs.put({ path: 'src', kind: 'dir', size: 0, mtimeMs: 0, ino: 3 });
    await watcher.start();
    fs.emit();
    watcher.stop();
    assert.equal(clock.pending, 0);
    assert.equal(fs.watching.size, 0);
    await clock.advanceAndSettle(5000);
    assert.equal(changes, 0);
  });
});
