import assert from 'node:assert/strict';
import { specialiseAccess } from '../src/pool/specialise-access.js';
import { SpecialiseInputError, functionEnv } from '../src/pool/specialise-env.js';

describe('specialiseAccess', () => {
  const TOKEN = 'pool-token-0123456789';
  type Case = [string, string | undefined, string | undefined, true | 401 | 403];
  const cases: Case[] = [
    // Local mode: no token, no HTTP specialise at all, whoever asks (loopback included).
    ['anyone when the replica has no token', undefined, undefined, 403],
    ['a Bearer token when the replica has none', `Bearer ${TOKEN}`, undefined, 403],
    ['the right token', `Bearer ${TOKEN}`, TOKEN, true],
    ['the right token, scheme in lower case', `bearer ${TOKEN}`, TOKEN, true],
    ['no Authorization header', undefined, TOKEN, 401],
    ['another scheme', `Basic ${TOKEN}`, TOKEN, 401],
    ['an empty Bearer token', 'Bearer ', TOKEN, 401],
    ['a wrong token', 'Bearer pool-token-0123456780', TOKEN, 403],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, 403],
    ['the token with something appended', `Bearer ${TOKEN}x`, TOKEN, 403],
  ];
  for (const [name, authorization, token, expected] of cases) {
    it(`${expected === true ? 'lets in' : `refuses (${expected})`} ${name}`, () => {
      const access = specialiseAccess({ authorization }, token);
      assert.equal(access.allowed ? true : access.statusCode, expected);
    });
  }

  it('says why it refused, without the token', () => {
    const wrong = specialiseAccess({ authorization: 'Bearer nope' }, TOKEN);
    assert.ok(!wrong.allowed);
    assert.equal(wrong.reason, 'the Bearer token is not the one this replica accepts');
    const none = specialiseAccess({ authorization: `Bearer ${TOKEN}` }, undefined);
    assert.ok(!none.allowed);
    assert.match(none.reason, /specialised by its supervisor only/);
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
