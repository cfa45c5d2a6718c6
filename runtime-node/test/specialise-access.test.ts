import assert from 'node:assert/strict';
import { specialiseAccess } from '../src/pool/specialise-access.js';
import { SpecialiseInputError, functionEnv } from '../src/pool/specialise-env.js';
import { functionFiles } from '../src/pool/specialise-files.js';
import { inPython } from './support/in-python.js';

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

/**
 * runtime-python ports these checks (pool/specialise_access.py, specialise_env.py,
 * specialise_files.py): the same inputs must get the same answers, or a pool of either runtime would
 * let in, or refuse, what the other does not.
 */
describe('runtime-python agrees on who may specialise and what a specialise may carry', function () {
  this.timeout(30_000);
  const TOKEN = 'pool-token-0123456789';

  it('on the Authorization header, and says the same', () => {
    const cases: [string | undefined, string | undefined][] = [
      [undefined, undefined],
      [`Bearer ${TOKEN}`, undefined],
      [`Bearer ${TOKEN}`, TOKEN],
      [`bearer ${TOKEN}`, TOKEN],
      [`BEARER \t${TOKEN} \t`, TOKEN],
      [undefined, TOKEN],
      [`Basic ${TOKEN}`, TOKEN],
      ['Bearer ', TOKEN],
      ['Bearer', TOKEN],
      [`Bearer ${TOKEN} extra`, TOKEN],
      ['Bearer pool-token-0123456780', TOKEN],
      [`Bearer ${TOKEN.slice(0, -1)}`, TOKEN],
      [`Bearer ${TOKEN}x`, TOKEN],
      [`Bearer\u00a0${TOKEN}`, TOKEN],
    ];
    const python = inPython(
      [
        'from nimbus_runtime.pool.pool_token import PoolToken',
        'from nimbus_runtime.pool.specialise_access import specialise_access',
        'def access(authorization, token):',
        '    found = specialise_access(authorization, None if token is None else PoolToken(token))',
        "    return [True, ''] if found.allowed else [found.status_code, found.reason]",
      ].join('\n'),
      'access(*item)',
      cases,
    );
    const node = cases.map(([authorization, token]) => {
      const found = specialiseAccess({ authorization }, token);
      return found.allowed ? [true, ''] : [found.statusCode, found.reason];
    });
    assert.deepEqual(python, node);
    assert.ok(node.some(([allowed]) => allowed === true) && node.some(([allowed]) => allowed === 403));
  });

  const pythonChecks = [
    'from nimbus_runtime.pool.specialise_env import SpecialiseInputError, function_env',
    'from nimbus_runtime.pool.specialise_files import function_files',
    'def checked(check, value):',
    '    try:',
    "        return {'ok': (function_env if check == 'env' else function_files)(value)}",
    '    except SpecialiseInputError as error:',
    "        return {'field': error.field, 'message': str(error)}",
  ].join('\n');

  function nodeChecked(check: 'env' | 'files', value: unknown): unknown {
    try {
      return { ok: { ...(check === 'env' ? functionEnv(value) : functionFiles(value)) } };
    } catch (error) {
      assert.ok(error instanceof SpecialiseInputError);
      return { field: error.field, message: error.message };
    }
  }

  it('on env maps and file sets: the same copies, the same refusals in the same words', () => {
    const cases: ['env' | 'files', unknown][] = [
      ['env', { A: '1', EMPTY: '', 'dotted.name': 'x', 'sp ace': 'y' }],
      ['env', null],
      ['env', ['A=1']],
      ['env', 'A=1'],
      ['env', { NIMBUS_CONCURRENCY: 4 }],
      ['env', { A: null }],
      ['env', { A: 'a\0b' }],
      ['env', { 'A=B': 'c' }],
      ['env', { '': 'c' }],
      ['env', { 'A\0': 'c' }],
      ['files', { 'main.py': 'x', 'lib/greet.py': 'y', 'a/b/c/.hidden': '', '...': 'z', 'é.py': 'é' }],
      ['files', ['x']],
      ['files', null],
      ['files', 'main.py'],
      ['files', { '': 'x' }],
      ['files', { '/etc/passwd': 'x' }],
      ['files', { '../up.py': 'x' }],
      ['files', { 'a/../../up.py': 'x' }],
      ['files', { 'a/./b.py': 'x' }],
      ['files', { '.': 'x' }],
      ['files', { 'a//b.py': 'x' }],
      ['files', { 'a/': 'x' }],
      ['files', { 'a\\b.py': 'x' }],
      ['files', { 'a\0.py': 'x' }],
      ['files', { 'main.py': 1 }],
      ['files', { 'main.py': null }],
      ['files', { big: 'x'.repeat(1_048_576) }],
      ['files', { big: 'x'.repeat(1_048_575), more: 'é' }],
      ['files', { big: 'é'.repeat(524_288) }],
    ];
    const python = inPython(pythonChecks, 'checked(*item)', cases);
    assert.deepEqual(
      python,
      cases.map(([check, value]) => nodeChecked(check, value)),
    );
  });
});
