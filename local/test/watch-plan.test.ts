import assert from 'node:assert/strict';
import type { FolderEntry } from '../src/ports.js';
import { planWatches, skippedPaths, treeChanged, treeState } from '../src/watch-plan.js';

const dir = (path: string, ino: number): FolderEntry => ({ path, kind: 'dir', size: 4096, mtimeMs: 1, ino });
const file = (path: string, size: number, mtimeMs: number, ino: number): FolderEntry => ({
  path,
  kind: 'file',
  size,
  mtimeMs,
  ino,
});

describe('treeChanged', () => {
  const before = treeState([
    dir('', 1),
    file('a.yaml', 10, 100, 2),
    dir('src', 3),
    file('src/i.mjs', 5, 100, 4),
  ]);
  const cases: [string, FolderEntry[], boolean][] = [
    [
      'the same listing',
      [dir('', 1), file('a.yaml', 10, 100, 2), dir('src', 3), file('src/i.mjs', 5, 100, 4)],
      false,
    ],
    [
      'a file written',
      [dir('', 1), file('a.yaml', 10, 101, 2), dir('src', 3), file('src/i.mjs', 5, 100, 4)],
      true,
    ],
    [
      'a file replaced by rename, same size and mtime',
      [dir('', 1), file('a.yaml', 10, 100, 9), dir('src', 3), file('src/i.mjs', 5, 100, 4)],
      true,
    ],
    ['a file removed', [dir('', 1), dir('src', 3), file('src/i.mjs', 5, 100, 4)], true],
    [
      'a file added',
      [
        dir('', 1),
        file('a.yaml', 10, 100, 2),
        dir('src', 3),
        file('src/i.mjs', 5, 100, 4),
        file('b.yaml', 1, 1, 5),
      ],
      true,
    ],
    [
      'a folder replaced',
      [dir('', 1), file('a.yaml', 10, 100, 2), dir('src', 8), file('src/i.mjs', 5, 100, 4)],
      true,
    ],
  ];
  for (const [name, after, changed] of cases) {
    it(`${changed ? 'sees' : 'does not see'} ${name}`, () =>
      assert.equal(treeChanged(before, treeState(after)), changed));
  }
});

describe('planWatches', () => {
  it('watches new folders, drops gone ones, and watches a replaced folder again', () => {
    const watched = new Map([
      ['', 1],
      ['src', 2],
      ['gone', 3],
    ]);
    const dirs = new Map([
      ['', 1],
      ['src', 7],
      ['new', 4],
    ]);
    assert.deepEqual(planWatches(watched, dirs), { close: ['src', 'gone'], open: ['src', 'new'] });
  });

  it('leaves everything alone when nothing moved', () => {
    const dirs = new Map([
      ['', 1],
      ['src', 2],
    ]);
    assert.deepEqual(planWatches(dirs, new Map(dirs)), { close: [], open: [] });
  });
});

describe('skippedPaths', () => {
  const cases: [string, string[], string[]][] = [
    ['a state folder inside the root', ['/fns/.nimbus'], ['.nimbus']],
    ['one deeper inside', ['/fns/sub/state'], ['sub/state']],
    ['the root itself', ['/fns'], []],
    ['a folder above the root', ['/'], []],
    ['a folder beside the root', ['/fns-state', '/other/.nimbus'], []],
    ['a name that only starts with ..', ['/fns/..state'], ['..state']],
    [
      'a state folder that is the root: what it writes in it',
      ['/fns', '/fns/admin-key', '/fns/functions'],
      ['admin-key', 'functions'],
    ],
  ];
  for (const [name, skip, expected] of cases) {
    it(`${expected.length > 0 ? 'leaves out' : 'leaves nothing out for'} ${name}`, () =>
      assert.deepEqual([...skippedPaths('/fns', skip)].sort(), expected));
  }
});
