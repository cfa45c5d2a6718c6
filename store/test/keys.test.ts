import assert from 'node:assert/strict';
import { InvalidStoreInputError } from '../src/errors.js';
import {
  callKey,
  checkId,
  claimKey,
  deadLetterIndexKey,
  functionUsername,
  stateKeyPrefix,
} from '../src/keys.js';

describe('key layout', () => {
  it('puts state under <root>:state:<namespace>:<function>:', () => {
    assert.equal(stateKeyPrefix('default', 'hello'), 'nimbus:state:default:hello:');
    assert.equal(stateKeyPrefix('default', 'hello', 'staging'), 'staging:state:default:hello:');
  });

  it('names the ACL user after the function', () => {
    assert.equal(functionUsername('default', 'hello'), 'nimbus-fn:default:hello');
  });

  it('lays out calls, claims and dead-letter indexes', () => {
    assert.equal(callKey('nimbus', 'abc'), 'nimbus:call:abc');
    assert.equal(claimKey('nimbus', 'cron:x'), 'nimbus:claim:cron:x');
    assert.equal(deadLetterIndexKey('nimbus'), 'nimbus:dlq:index');
    assert.equal(deadLetterIndexKey('nimbus', 'ns'), 'nimbus:dlq:index:ns');
    assert.equal(deadLetterIndexKey('nimbus', 'ns', 'fn'), 'nimbus:dlq:index:ns:fn');
  });

  // A name with ':' or a glob character could make one function's prefix a prefix (or an ACL
  // pattern) matching another's keys.
  const badNames: [string, string][] = [
    ['a', 'b:c'],
    ['a:b', 'c'],
    ['a', 'b*'],
    ['a', 'b?'],
    ['a', '[b]'],
    ['A', 'b'],
    ['a', ''],
    ['a', `${'x'.repeat(64)}`],
    ['-a', 'b'],
  ];
  for (const [namespace, fn] of badNames) {
    it(`refuses ${JSON.stringify(`${namespace}/${fn}`)} as a name`, () => {
      assert.throws(() => stateKeyPrefix(namespace, fn), InvalidStoreInputError);
      assert.throws(() => functionUsername(namespace, fn), InvalidStoreInputError);
    });
  }

  it('refuses a key root with separators or glob characters', () => {
    for (const root of ['', 'a:b', 'a*', 'a b']) {
      assert.throws(() => stateKeyPrefix('a', 'b', root), InvalidStoreInputError, root);
    }
  });

  it('checks ids: 1-256 characters, no whitespace or control characters', () => {
    assert.equal(checkId('call id', 'a'.repeat(256)), 'a'.repeat(256));
    assert.equal(checkId('call id', '01J0-ü:x'), '01J0-ü:x');
    for (const id of ['', 'a'.repeat(257), 'a b', 'a\tb', 'a\u0000', 'a\u0085', 42]) {
      assert.throws(() => checkId('call id', id), InvalidStoreInputError, JSON.stringify(id));
    }
  });
});
