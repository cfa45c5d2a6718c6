import assert from 'node:assert/strict';
import { validateFunction } from '@nimbus/api';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';

const JWT = {
  issuer: 'https://idp.example',
  audiences: ['orders'],
  jwksUrl: 'https://idp.example/jwks.json',
};

const fn = (name: string, http: Record<string, unknown>) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "hi"' }, http },
});

/** spec.http.auth jwt as the API server checks it: the CEL rules and patterns of http-auth-schema.ts. */
describe('the Function CRD: http.auth jwt on a real API server', function () {
  this.timeout(45 * 60_000);
  let plane: ControlPlane;
  let FUNCTIONS: string;

  before(async () => {
    plane = await sharedControlPlane();
    FUNCTIONS = `/apis/nimbus.dev/v1alpha1/namespaces/${await freshNamespace(plane, 'jwt-crd')}/functions`;
  });

  it('stores auth jwt with the defaults local mode applies', async () => {
    const created = await plane.request<{ spec: Record<string, unknown> }>(
      'POST',
      FUNCTIONS,
      fn('signed', { auth: 'jwt', jwt: JWT }),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const local = validateFunction(fn('signed', { auth: 'jwt', jwt: JWT }));
    assert.ok(local.ok);
    assert.deepEqual(created.body.spec, local.value.spec);
  });

  const refused: [string, string, Record<string, unknown>, RegExp][] = [
    ['auth jwt without jwt', 'j1', { auth: 'jwt' }, /spec\.http\.jwt: .*required with auth jwt/],
    ['jwt with auth key', 'j2', { auth: 'key', jwt: JWT }, /spec\.http\.jwt: .*only allowed with it/],
    [
      'a clock skew over 5m',
      'j3',
      { auth: 'jwt', jwt: { ...JWT, clockSkew: '6m' } },
      /spec\.http\.jwt\.clockSkew: .*at most 5m/,
    ],
    [
      'a relative JWKS URL',
      'j4',
      { auth: 'jwt', jwt: { ...JWT, jwksUrl: '/jwks' } },
      /spec\.http\.jwt\.jwksUrl/,
    ],
    ['no audiences', 'j5', { auth: 'jwt', jwt: { ...JWT, audiences: [] } }, /spec\.http\.jwt\.audiences/],
    [
      'HS256',
      'j6',
      { auth: 'jwt', jwt: { ...JWT, algorithms: ['HS256'] } },
      /spec\.http\.jwt\.algorithms\[0\]: Unsupported value: "HS256"/,
    ],
  ];
  for (const [what, name, http, message] of refused) {
    it(`refuses ${what}, naming the field`, async () => {
      const reply = await plane.request<{ message?: string }>('POST', FUNCTIONS, fn(name, http));
      assert.equal(reply.status, 422, JSON.stringify(reply.body));
      assert.match(reply.body.message ?? '', message);
    });
  }
});
