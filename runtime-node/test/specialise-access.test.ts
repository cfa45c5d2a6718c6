import assert from 'node:assert/strict';
import { isLoopback, specialiseAccess } from '../src/pool/specialise-access.js';
import { SpecialiseInputError, functionEnv } from '../src/pool/specialise-env.js';

describe('specialiseAccess', () => {
  const TOKEN = 'pool-token-0123456789';
  type Case = [string, string | undefined, string | undefined, string | undefined, true | 401 | 403];
  const cases: Case[] = [
    ['loopback without a token configured', '127.0.0.1', undefined, undefined, true],
    ['IPv6 loopback without a token configured', '::1', undefined, undefined, true],
    ['IPv4-mapped loopback without a token configured', '::ffff:127.0.0.1', undefined, undefined, true],
    ['another address without a token configured', '10.1.2.3', undefined, undefined, 403],
    ['an unknown address without a token configured', undefined, undefined, undefined, 403],
    ['an address that only looks like loopback', '127.0.0.1.evil', undefined, undefined, 403],
    ['the right token from another address', '10.1.2.3', `Bearer ${TOKEN}`, TOKEN, true],
    ['the right token, scheme in lower case', '10.1.2.3', `bearer ${TOKEN}`, TOKEN, true],
    ['no Authorization header, even from loopback', '127.0.0.1', undefined, TOKEN, 401],
    ['another scheme', '127.0.0.1', `Basic ${TOKEN}`, TOKEN, 401],
    ['an empty Bearer token', '127.0.0.1', 'Bearer ', TOKEN, 401],
    ['a wrong token', '127.0.0.1', 'Bearer pool-token-0123456780', TOKEN, 403],
    ['a prefix of the token', '127.0.0.1', `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, 403],
    ['the token with something appended', '127.0.0.1', `Bearer ${TOKEN}x`, TOKEN, 403],
  ];
  for (const [name, remoteAddress, authorization, token, expected] of cases) {
    it(`${expected === true ? 'lets in' : `refuses (${expected})`} ${name}`, () => {
      const access = specialiseAccess({ remoteAddress, authorization }, token);
      assert.equal(access.allowed ? true : access.statusCode, expected);
    });
  }

  it('says why it refused, without the token', () => {
    const access = specialiseAccess({ remoteAddress: '127.0.0.1', authorization: 'Bearer nope' }, TOKEN);
    assert.ok(!access.allowed);
    assert.equal(access.reason, 'the Bearer token is not the one this replica accepts');
  });

  it('counts 127.0.0.0/8 as loopback and nothing else', () => {
    assert.deepEqual(
      ['127.0.0.1', '127.255.3.4', '::ffff:127.0.0.9', '::1', '128.0.0.1', '::2', '', '::ffff:10.0.0.1'].map(
        isLoopback,
      ),
      [true, true, true, true, false, false, false, false],
    );
  });
});

describe('functionEnv', () => {
  it('copies names to strings into a frozen map without a prototype', () => {
    const env = functionEnv(JSON.parse('{"A":"1","__proto__":"x","EMPTY":""}'));
    assert.deepEqual(Object.entries(env), [
      ['A', '1'],
      ['__proto__', 'x'],
      ['EMPTY', ''],
    ]);
    assert.equal(Object.getPrototypeOf(env), null);
    assert.ok(Object.isFrozen(env));
  });

  const bad: [string, unknown, string][] = [
    ['no env at all', undefined, 'env'],
    ['null', null, 'env'],
    ['an array', ['A=1'], 'env'],
    ['a string', 'A=1', 'env'],
    ['a number value', { NIMBUS_CONCURRENCY: 4 }, 'env.NIMBUS_CONCURRENCY'],
    ['a null value', { A: null }, 'env.A'],
    ['a value with NUL', { A: 'a\0b' }, 'env.A'],
    ['a name with =', { 'A=B': 'c' }, 'env.A=B'],
    ['an empty name', { '': 'c' }, 'env.'],
  ];
  for (const [name, value, field] of bad) {
    it(`refuses ${name}, naming ${field}`, () => {
      assert.throws(
        () => functionEnv(value),
        (error: unknown) => error instanceof SpecialiseInputError && error.field === field,
      );
    });
  }
});
