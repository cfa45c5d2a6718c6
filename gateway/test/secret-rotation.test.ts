import assert from 'node:assert/strict';
import type { ResolvedSource } from '@nimbus/api';
import { type SecretReader, SourceConfigError } from '@nimbus/sources';
import { SecretRotations, readSecretValues } from '../src/sources/secret-rotation.js';

const hook: ResolvedSource<'webhook'> = {
  namespace: 'shop',
  function: 'hooks',
  name: 'github',
  kind: 'webhook',
  spec: { secret: { name: 'github-hook', key: 'secret' }, signature: 'github' },
  maxDeliver: 5,
  backoffMs: [1_000],
  concurrency: 1,
};

/** A reader over `values` by `<secret>.<key>`; a key it lacks is not given, as a missing Secret is. */
const readerOf = (values: Record<string, string>): SecretReader => ({
  read: async (ref) => {
    const value = values[`${ref.name}.${ref.key}`];
    if (value === undefined)
      throw new SourceConfigError('secret', `Secret ${ref.name} key ${ref.key} is not set`);
    return value;
  },
});
const valuesOf = (value: string) => new Map([['github-hook.secret', value]]);
const GRACE = 60_000;

describe('SecretRotations: a trigger’s Secret values as last seen, and the ones before for a grace', () => {
  it('reads every key a trigger names; a key not given is left out, any other failure is thrown', async () => {
    assert.deepEqual(await readSecretValues(hook, readerOf({ 'github-hook.secret': 's1' })), valuesOf('s1'));
    assert.deepEqual(await readSecretValues(hook, readerOf({})), new Map());
    const away: SecretReader = { read: () => Promise.reject(new Error('the API server is away')) };
    await assert.rejects(readSecretValues(hook, away), /away/);
  });

  it('says first, same and rotated, each against the look before', () => {
    const rotations = new SecretRotations(GRACE);
    const looks = [
      ['s1', 'first'],
      ['s1', 'same'],
      ['s2', 'rotated'],
      ['s2', 'same'],
    ] as const;
    for (const [value, expected] of looks)
      assert.equal(rotations.observe('shop/hooks/github', valuesOf(value), 0), expected, value);
    assert.equal(
      rotations.observe('shop/hooks/github', new Map(), 0),
      'rotated',
      'a Secret removed is a change',
    );
  });

  it('gives the values before a rotation until the grace ends, counted from when the change was seen', async () => {
    const rotations = new SecretRotations(GRACE);
    const seen = { 'github-hook.secret': 's1' };
    assert.equal(await rotations.previous(hook, readerOf(seen), 1_000), undefined, 'never rotated');
    const now = { 'github-hook.secret': 's2' };
    // The rotation is seen by this very look (no runner pass came between).
    const previous = await rotations.previous(hook, readerOf(now), 5_000);
    assert.equal(await previous?.read(hook.spec.secret), 's1');
    assert.equal(
      await (await rotations.previous(hook, readerOf(now), 5_000 + GRACE - 1))?.read(hook.spec.secret),
      's1',
    );
    assert.equal(
      await rotations.previous(hook, readerOf(now), 5_000 + GRACE),
      undefined,
      'the grace is over',
    );
  });

  it('one step back only: a second rotation ends the first one’s grace; 0 grants none', async () => {
    const rotations = new SecretRotations(GRACE);
    rotations.observe('shop/hooks/github', valuesOf('s1'), 0);
    rotations.observe('shop/hooks/github', valuesOf('s2'), 10);
    rotations.observe('shop/hooks/github', valuesOf('s3'), 20);
    const previous = await rotations.previous(hook, readerOf({ 'github-hook.secret': 's3' }), 30);
    assert.equal(await previous?.read(hook.spec.secret), 's2');
    const none = new SecretRotations(0);
    none.observe('shop/hooks/github', valuesOf('s1'), 0);
    assert.equal(await none.previous(hook, readerOf({ 'github-hook.secret': 's2' }), 0), undefined);
  });

  it('a look that fails keeps what was seen; a trigger that went is forgotten', async () => {
    const rotations = new SecretRotations(GRACE);
    rotations.observe('shop/hooks/github', valuesOf('s1'), 0);
    rotations.observe('shop/hooks/github', valuesOf('s2'), 0);
    const away: SecretReader = { read: () => Promise.reject(new Error('the API server is away')) };
    assert.equal(await (await rotations.previous(hook, away, 1))?.read(hook.spec.secret), 's1');
    rotations.retain(new Set());
    assert.equal(rotations.observe('shop/hooks/github', valuesOf('s2'), 2), 'first');
  });
});
