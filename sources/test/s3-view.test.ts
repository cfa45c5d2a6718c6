import assert from 'node:assert/strict';
import { subjectOf } from '../src/s3/object-event.js';
import { encodePath } from '../src/s3/signed-requests.js';
import {
  BASELINE,
  type ViewChange,
  createdIn,
  decodeVersion,
  deletedSince,
  encodeVersion,
} from '../src/s3/view.js';

const v = (modified: number, size: number, etag: string) => ({ modified, size, etag });

describe('s3 poller view', () => {
  it('round-trips versions, pending or not, ETags with spaces included', () => {
    const version = v(1_765_000_000_000, 42, 'abc-2 x');
    assert.deepEqual(decodeVersion(encodeVersion(version)), { ...version, pending: false });
    assert.deepEqual(decodeVersion(encodeVersion(version, true)), { ...version, pending: true });
    assert.deepEqual(decodeVersion('garbage'), { modified: 0, size: 0, etag: '', pending: false });
  });

  it('tells new, changed and pending keys of a page, and keys a whole listing lacks, in key order', () => {
    const view = new Map([
      [BASELINE, 'v1'],
      ['same', encodeVersion(v(1, 1, 'a'))],
      ['changed', encodeVersion(v(1, 1, 'a'))],
      ['pending-listed', encodeVersion(v(1, 1, 'a'), true)],
      ['pending-gone', encodeVersion(v(1, 1, 'a'), true)],
      ['gone', encodeVersion(v(1, 9, 'g'))],
    ]);
    const listing = new Map([
      ['same', v(1, 1, 'a')],
      ['changed', v(2, 1, 'a')],
      ['pending-listed', v(1, 1, 'a')],
      ['new', v(3, 3, 'n')],
    ]);
    const say = (c: ViewChange) => `${c.kind} ${c.key}${c.createdFirst ? ' (created first)' : ''}`;
    assert.deepEqual(createdIn(view, listing).map(say), [
      'created changed',
      'created new',
      'created pending-listed',
    ]);
    assert.deepEqual(deletedSince(view, new Set(listing.keys())).map(say), [
      'deleted gone',
      'deleted pending-gone (created first)',
    ]);
  });

  it('makes subjects a header can carry, keeping printable ASCII as it is', () => {
    assert.equal(subjectOf('in/a-b_c.jpg'), 'in/a-b_c.jpg');
    assert.equal(subjectOf('a b%c\né😀'), 'a%20b%25c%0A%C3%A9%F0%9F%98%80');
    assert.equal(subjectOf('\ud800'), '%EF%BF%BD', 'a lone surrogate does not throw');
  });

  it('encodes a key for a signed path as S3 does: unreserved bytes and slashes as they are', () => {
    assert.equal(encodePath('in/a-b_c.~d'), 'in/a-b_c.~d');
    assert.equal(encodePath("a b+c=d&e!f'g(h)i*j"), 'a%20b%2Bc%3Dd%26e%21f%27g%28h%29i%2Aj');
    assert.equal(encodePath('é/%41'), '%C3%A9/%2541');
    assert.equal(encodePath('\ud800'), '%EF%BF%BD', 'a lone surrogate does not throw');
  });
});
