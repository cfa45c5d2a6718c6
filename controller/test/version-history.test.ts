import assert from 'node:assert/strict';
import {
  EMPTY_HISTORY,
  type VersionHistory,
  observeRevision,
  pruneVersions,
} from '../src/versions/version-history.js';

const at = (minute: number) => `2026-12-07T10:${String(minute).padStart(2, '0')}:00Z`;

/** Revisions seen one after another, a minute apart, from no history. */
function seen(...revisions: string[]): VersionHistory {
  return revisions.reduce((h, r, i) => observeRevision(h, r, at(i)), EMPTY_HISTORY);
}

describe('version history: immutable versions of a Function', () => {
  it('makes v1 for the first revision and a new version for each change, newest first', () => {
    const h = seen('aaa', 'bbb', 'ccc');
    assert.deepEqual(
      h.versions.map((v) => [v.name, v.revision, v.createdAt]),
      [
        ['v3', 'ccc', at(2)],
        ['v2', 'bbb', at(1)],
        ['v1', 'aaa', at(0)],
      ],
    );
    assert.equal(h.latest, 'v3');
  });

  it('changes nothing when the revision is the latest one', () => {
    const h = seen('aaa', 'bbb');
    assert.equal(observeRevision(h, 'bbb', at(9)), h);
  });

  it('makes a kept version the latest again when the spec is put back as it was', () => {
    const back = observeRevision(seen('aaa', 'bbb'), 'aaa', at(5));
    assert.equal(back.latest, 'v1');
    assert.equal(back.versions.length, 2, 'no new version');
    assert.equal(observeRevision(back, 'ccc', at(6)).latest, 'v3', 'numbering goes on after the newest');
  });

  it('numbers after the newest kept version even when older ones were pruned', () => {
    const pruned = pruneVersions(seen('a', 'b', 'c', 'd'), 2, new Set()).history;
    assert.deepEqual(
      pruned.versions.map((v) => v.name),
      ['v4', 'v3'],
    );
    assert.equal(observeRevision(pruned, 'e', at(9)).latest, 'v5');
  });

  const pruning: [string, number, string[], string[], string[]][] = [
    // name, keep, needed, kept, removed
    ['keeps the newest when nothing else is needed', 3, [], ['v5', 'v4', 'v3'], ['v2', 'v1']],
    [
      'keeps a needed old version and fills the rest with the newest',
      3,
      ['v1'],
      ['v5', 'v4', 'v1'],
      ['v3', 'v2'],
    ],
    ['keeps every needed version even past keep', 1, ['v2', 'v3'], ['v5', 'v3', 'v2'], ['v4', 'v1']],
    ['always keeps the latest, even with keep 1', 1, [], ['v5'], ['v4', 'v3', 'v2', 'v1']],
    ['removes nothing while within keep', 10, [], ['v5', 'v4', 'v3', 'v2', 'v1'], []],
  ];
  for (const [name, keep, needed, kept, removed] of pruning) {
    it(name, () => {
      const result = pruneVersions(seen('a', 'b', 'c', 'd', 'e'), keep, new Set(needed));
      assert.deepEqual(
        result.history.versions.map((v) => v.name),
        kept,
      );
      assert.deepEqual(
        result.removed.map((v) => v.name),
        removed,
      );
      assert.equal(result.history.latest, 'v5');
    });
  }

  it('keeps the latest when it is an old version made current again', () => {
    const back = observeRevision(seen('a', 'b', 'c'), 'a', at(9));
    const result = pruneVersions(back, 1, new Set());
    assert.deepEqual(
      result.history.versions.map((v) => v.name),
      ['v1'],
    );
  });
});
