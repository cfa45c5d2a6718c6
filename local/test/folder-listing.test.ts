import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@nimbus/testkit';
import { listTree, nodeFolderFs } from '../src/folder-listing.js';

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
