import assert from 'node:assert/strict';
import { bodyBytes, encodeBody } from '../src/stored-body.js';

describe('encodeBody', () => {
  const cases: [
    string,
    Uint8Array | string,
    number,
    { body: string; encoding: string; truncated: boolean; size: number },
  ][] = [
    ['text as text', 'hello', 100, { body: 'hello', encoding: 'utf8', truncated: false, size: 5 }],
    [
      'UTF-8 bytes as text',
      Buffer.from('ünï', 'utf8'),
      100,
      { body: 'ünï', encoding: 'utf8', truncated: false, size: 5 },
    ],
    ['an empty body', '', 10, { body: '', encoding: 'utf8', truncated: false, size: 0 }],
    ['text at the limit whole', 'abcd', 4, { body: 'abcd', encoding: 'utf8', truncated: false, size: 4 }],
    ['text over the limit cut', 'abcdef', 4, { body: 'abcd', encoding: 'utf8', truncated: true, size: 6 }],
    [
      'a cut inside a 2-byte character before it',
      'aé',
      2,
      { body: 'a', encoding: 'utf8', truncated: true, size: 3 },
    ],
    [
      'a cut inside a 4-byte character before it',
      'a😀',
      4,
      { body: 'a', encoding: 'utf8', truncated: true, size: 5 },
    ],
    ['a limit of 0 to nothing', 'abc', 0, { body: '', encoding: 'utf8', truncated: true, size: 3 }],
    [
      'bytes that are not UTF-8 as base64',
      new Uint8Array([0xc3, 0x28]),
      100,
      { body: 'wyg=', encoding: 'base64', truncated: false, size: 2 },
    ],
    [
      'bytes that are not UTF-8, cut, as base64',
      new Uint8Array([0xff, 0xfe, 0xfd]),
      2,
      { body: '//4=', encoding: 'base64', truncated: true, size: 3 },
    ],
  ];
  for (const [what, body, limit, expected] of cases) {
    it(`keeps ${what}`, () => {
      assert.deepEqual(encodeBody(body, limit), expected);
    });
  }

  it('round-trips every byte value through bodyBytes', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    assert.deepEqual([...bodyBytes(encodeBody(all))], [...all]);
    assert.equal(bodyBytes(encodeBody('héllo')).toString('utf8'), 'héllo');
  });
});
