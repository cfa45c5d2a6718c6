import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@nimbus/testkit';
import { folderFs, listTree, nodeFolderFs, realPathOf } from '../src/folder-listing.js';
import { ownWrites } from '../src/state-paths.js';

describe('listTree', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-listing-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('lists the root, then each folder before what it holds, without node_modules, .git or links', async () => {
    await mkdir(join(dir, 'src', 'lib'), { recursive: true });
    await mkdir(join(dir, 'src', 'node_modules', 'dep'), { recursive: true });
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'a.yaml'), 'a: 1\n');
    await writeFile(join(dir, 'src', 'lib', 'util.mjs'), 'export {};\n');
    await writeFile(join(dir, 'src', 'node_modules', 'dep', 'index.js'), '');
    await writeFile(join(dir, '.git', 'HEAD'), '');
    await symlink(join(dir, 'a.yaml'), join(dir, 'link.yaml'));
    const entries = await listTree(dir);
    assert.deepEqual(entries.map((e) => `${e.kind} ${e.path}`).sort(), [
      'dir ',
      'dir src',
      'dir src/lib',
      'file a.yaml',
      'file src/lib/util.mjs',
    ]);
    assert.equal(entries[0]?.path, '');
    const at = (path: string) => entries.findIndex((e) => e.path === path);
    assert.ok(at('src') < at('src/lib') && at('src/lib') < at('src/lib/util.mjs'));
    assert.equal(entries.find((e) => e.path === 'a.yaml')?.size, 5);
  });

  describe('leaving out the state folder', () => {
    const paths = async (skip: string[], root = dir) =>
      (await listTree(root, skip)).map((e) => e.path).sort();
    const everything = ['', '.nimbus', '.nimbus/functions', '.nimbus/functions/hi.mjs', 'a.yaml'];
    let link: string;
    beforeEach(async () => {
      await writeFile(join(dir, 'a.yaml'), 'a: 1\n');
      await mkdir(join(dir, '.nimbus', 'functions'), { recursive: true });
      await writeFile(join(dir, '.nimbus', 'functions', 'hi.mjs'), '');
      link = `${dir}-link`;
    });
    afterEach(() => rm(link, { force: true }));

    it('matches it by real path, however it is named', async () => {
      assert.deepEqual(await paths([]), everything);
      assert.deepEqual(await paths(ownWrites(join(dir, '.nimbus'))), ['', 'a.yaml'], 'absolute');
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        assert.deepEqual(await paths(ownWrites('./.nimbus')), ['', 'a.yaml'], 'relative');
      } finally {
        process.chdir(cwd);
      }
      await symlink(join(dir, '.nimbus'), link);
      assert.deepEqual(await paths(ownWrites(link)), ['', 'a.yaml'], 'a symlink to the state folder');
      await rm(link);
      await symlink(dir, link);
      assert.deepEqual(
        await paths(ownWrites(join(dir, '.nimbus')), link),
        ['', 'a.yaml'],
        'a watched symlink',
      );
      assert.deepEqual(
        await paths(ownWrites(join(link, '.nimbus'))),
        ['', 'a.yaml'],
        'a state path through it',
      );
    });

    it('resolves a state folder not made yet, and leaves out everything written in it later', async () => {
      const later = join(dir, 'later', 'state');
      assert.equal(await realPathOf(later), join(await realPathOf(dir), 'later', 'state'));
      assert.deepEqual(await paths(ownWrites(later)), everything);
      await mkdir(join(later, 'functions'), { recursive: true });
      assert.deepEqual(await paths(ownWrites(later)), [...everything, 'later'].sort());
    });

    it("leaves out only local mode's own files when the state folder is the watched folder", async () => {
      await writeFile(join(dir, 'admin-key'), 'k\n');
      await mkdir(join(dir, 'functions'));
      await writeFile(join(dir, 'functions', 'hi.mjs'), '');
      assert.deepEqual(await paths(ownWrites(dir)), everything);
    });
  });

  it('throws when the root is not there', async () => {
    await assert.rejects(listTree(join(dir, 'missing')), /ENOENT/);
  });
});

describe('nodeFolderFs.watchDir', () => {
  let dir: string;
  let events: number;
  let close: () => void;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-watch-'));
    await writeFile(join(dir, 'a.yaml'), 'v: 1\n');
    events = 0;
    const watch = nodeFolderFs.watchDir(
      dir,
      () => events++,
      (err) => assert.fail(err),
    );
    close = () => watch.close();
  });
  afterEach(async () => {
    close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `edit` and waits for the watch to report something. */
  const heard = async (what: string, edit: () => Promise<void> | void) => {
    const before = events;
    await edit();
    await eventually(() => (events > before ? true : undefined), 5000, `an event for ${what}`);
  };

  // Node 20's recursive watch loses a file after the first of these; a watch on its folder must not.
  it('hears a file replaced by rename, and every edit after it', async () => {
    const file = join(dir, 'a.yaml');
    const replace = async (text: string) => {
      await writeFile(join(dir, '.a.yaml.tmp'), text);
      renameSync(join(dir, '.a.yaml.tmp'), file);
    };
    await heard('an edit in place', () => writeFile(file, 'v: 2\n'));
    await heard('a replace by rename', () => replace('v: 3\n'));
    await heard('an edit in place after it', () => writeFile(file, 'v: 4\n'));
    await heard('a second replace', () => replace('v: 5\n'));
    await heard('an edit in place after that', () => writeFile(file, 'v: 6\n'));
    await heard('a delete', () => unlink(file));
    await heard('a file created again', () => writeFile(file, 'v: 7\n'));
    await heard('an edit in place after that', () => writeFile(file, 'v: 8\n'));
  });
});

describe('folderFs with a skipped state folder', () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('does not hear the state folder made inside a watched folder, and hears the rest', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nimbus-watch-'));
    const fs = folderFs(ownWrites(join(dir, '.nimbus')));
    await fs.list(dir); // resolves what is skipped, as FolderWatcher lists before it watches
    let events = 0;
    const watch = fs.watchDir(
      dir,
      () => events++,
      (err) => assert.fail(err),
    );
    try {
      // inotify reports in order: once the event for `second` is in, the earlier ones are too.
      await mkdir(join(dir, '.nimbus'));
      await mkdir(join(dir, 'first'));
      await eventually(() => (events >= 1 ? true : undefined), 5000, 'an event for first');
      await mkdir(join(dir, 'second'));
      await eventually(() => (events >= 2 ? true : undefined), 5000, 'an event for second');
      assert.equal(events, 2, 'the state folder made no event');
      assert.deepEqual((await fs.list(dir)).map((e) => e.path).sort(), ['', 'first', 'second']);
    } finally {
      watch.close();
    }
  });
});
