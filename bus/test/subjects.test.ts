import { strict as assert } from 'node:assert';
import { BusConfigError } from '../src/index.js';
import { checkSubject, subjectCovers, subjectMatches, subjectsOverlap } from '../src/subjects.js';

describe('subjects', () => {
  const matches: [string, string, boolean][] = [
    ['orders.created', 'orders.created', true],
    ['orders.*', 'orders.created', true],
    ['orders.*', 'orders.created.eu', false],
    ['orders.>', 'orders.created.eu', true],
    ['orders.>', 'orders', false],
    ['*.created', 'orders.created', true],
    ['orders.created', 'orders.deleted', false],
    ['>', 'anything.at.all', true],
  ];
  for (const [pattern, subject, expected] of matches) {
    it(`"${pattern}" ${expected ? 'matches' : 'does not match'} "${subject}"`, () => {
      assert.equal(subjectMatches(pattern, subject), expected);
    });
  }

  const overlaps: [string, string, boolean][] = [
    ['a.*', 'a.b', true],
    ['a.*', '*.b', true],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.b', 'a.c', false],
    ['nimbus.>', 'nimbus.calls.default.fn', true],
    ['*.*', 'a.>', true],
  ];
  for (const [a, b, expected] of overlaps) {
    it(`"${a}" and "${b}" ${expected ? 'overlap' : 'do not overlap'}`, () => {
      assert.equal(subjectsOverlap(a, b), expected);
      assert.equal(subjectsOverlap(b, a), expected, 'symmetric');
    });
  }

  const covers: [string, string, boolean][] = [
    ['a.>', 'a.*', true],
    ['a.>', 'a.b.>', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a.>', false],
    ['a.b', 'a.*', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*', 'a.*', true],
  ];
  for (const [general, specific, expected] of covers) {
    it(`"${general}" ${expected ? 'covers' : 'does not cover'} "${specific}"`, () => {
      assert.equal(subjectCovers(general, specific), expected);
    });
  }

  const malformed: [string, boolean][] = [
    ['', true],
    ['a..b', true],
    ['a. b', true],
    ['a.>.b', true],
    ['a.b*', true],
    ['a.*', false],
  ];
  for (const [subject, wildcards] of malformed) {
    it(`refuses "${subject}"${wildcards ? '' : ' where wildcards are not allowed'}`, () => {
      assert.throws(() => checkSubject(subject, 'subject', wildcards), BusConfigError);
    });
  }

  it('accepts wildcards only where they are allowed', () => {
    assert.doesNotThrow(() => checkSubject('a.*.>', 'subject', true));
    assert.doesNotThrow(() => checkSubject('orders.created-eu_1', 'subject', false));
  });
});
