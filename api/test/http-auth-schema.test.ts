import assert from 'node:assert/strict';
import { validateFunction } from '../src/validate.js';

const JWT = {
  issuer: 'https://idp.example',
  audiences: ['orders'],
  jwksUrl: 'https://idp.example/jwks.json',
};

/** A Function document whose spec.http is `http`. */
const withHttp = (http: Record<string, unknown>) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'orders' },
  spec: { source: { inline: 'export default () => "hi"' }, http },
});

/** The refusals of a document, as `field: message`. */
const refusals = (http: Record<string, unknown>) => {
  const result = validateFunction(withHttp(http));
  return result.ok ? [] : result.errors.map((e) => `${e.field}: ${e.message}`);
};

describe('spec.http.auth jwt (http-auth-schema.ts)', () => {
  it('accepts auth jwt with an identity provider, and fills in clockSkew and forwardToken', () => {
    const result = validateFunction(withHttp({ auth: 'jwt', jwt: JWT }));
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.value.spec.http.jwt, { ...JWT, clockSkew: '30s', forwardToken: false });
  });

  it('needs jwt with auth jwt, and refuses it with any other auth, naming the field', () => {
    assert.deepEqual(refusals({ auth: 'jwt' }), [
      'spec.http.jwt: is required with auth jwt, and only allowed with it',
    ]);
    assert.deepEqual(refusals({ auth: 'key', jwt: JWT }), [
      'spec.http.jwt: is required with auth jwt, and only allowed with it',
    ]);
  });

  it('refuses a JWKS URL that is not absolute http(s), no audiences, a skew over 5m, an unknown or symmetric algorithm', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { jwksUrl: '/jwks.json' },
        /^spec\.http\.jwt\.jwksUrl: must be an absolute http:\/\/ or https:\/\/ URL/,
      ],
      [{ jwksUrl: 'file:///etc/keys' }, /^spec\.http\.jwt\.jwksUrl: /],
      [{ jwksUrl: 'https://user:pw@idp.example/jwks' }, /^spec\.http\.jwt\.jwksUrl: /],
      [{ audiences: [] }, /^spec\.http\.jwt\.audiences: /],
      [{ clockSkew: '6m' }, /^spec\.http\.jwt\.clockSkew: must be at most 5m$/],
      [{ clockSkew: 'soon' }, /^spec\.http\.jwt\.clockSkew: must be a duration/],
      [{ algorithms: ['HS256'] }, /^spec\.http\.jwt\.algorithms\[0\]: /],
      [{ algorithms: ['none'] }, /^spec\.http\.jwt\.algorithms\[0\]: /],
      [
        { requiredClaims: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, 'x'])) },
        /^spec\.http\.jwt\.requiredClaims: may name at most 20 claims$/,
      ],
      [{ surprise: true }, /^spec\.http\.jwt/],
    ];
    for (const [change, expected] of cases) {
      const errors = refusals({ auth: 'jwt', jwt: { ...JWT, ...change } });
      assert.equal(errors.length, 1, `${JSON.stringify(change)}: ${errors.join('; ')}`);
      assert.match(errors[0] as string, expected);
    }
  });
});
