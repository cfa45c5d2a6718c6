import assert from 'node:assert/strict';
import { isCredentialHeader, withoutCredentials } from '../src/credential-headers.js';

describe('credential headers: what Nimbus passes on but never keeps', () => {
  const cases: [string, boolean][] = [
    ['authorization', true],
    ['Authorization', true],
    ['PROXY-AUTHORIZATION', true],
    ['cookie', true],
    ['set-cookie', true],
    ['x-api-key', true],
    ['X-Auth-Token', true],
    ['content-type', false],
    ['x-call-id', false],
    ['authorization-hint', false],
  ];
  for (const [name, expected] of cases) {
    it(`${name}: ${expected ? 'a credential' : 'kept'}`, () =>
      assert.equal(isCredentialHeader(name), expected));
  }

  it('splits headers into the kept ones and the names of the dropped ones, as spelt', () => {
    const { kept, removed } = withoutCredentials({ Accept: '*/*', Cookie: 'a=1', authorization: 'Bearer x' });
    assert.deepEqual(kept, { Accept: '*/*' });
    assert.deepEqual(removed, ['Cookie', 'authorization']);
  });
});
