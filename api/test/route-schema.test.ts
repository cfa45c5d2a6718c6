import assert from 'node:assert/strict';
import type { HttpRoute } from '../src/function.js';
import { resolveRouteClaims, routesCondition, templateShape } from '../src/route-claims.js';
import { validateFunction } from '../src/validate.js';

const withRoutes = (routes: unknown) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: 'orders' },
  spec: { source: { inline: 'export default () => "hi"' }, http: { routes } },
});

/** The refusals for these routes, as `field: message`. */
function refusals(routes: unknown): string[] {
  const result = validateFunction(withRoutes(routes));
  return result.ok ? [] : result.errors.map((e) => `${e.field}: ${e.message}`);
}

describe('spec.http.routes', () => {
  it('takes a route with its own token requirements when the Function signs callers in with jwt', () => {
    const fn = withRoutes([
      { path: '/api/orders', methods: ['POST'], jwt: { requiredScopes: ['orders:write'] } },
    ]);
    const http = fn.spec.http as Record<string, unknown>;
    http.auth = 'jwt';
    http.jwt = {
      issuer: 'https://idp.example.com/',
      audiences: ['orders'],
      jwksUrl: 'https://idp.example.com/jwks',
    };
    const result = validateFunction(fn);
    assert.ok(result.ok, result.ok ? '' : result.errors.map((e) => `${e.field}: ${e.message}`).join('\n'));
  });

  it('takes literals, parameters, a trailing wildcard, methods, a host and CORS', () => {
    const routes = [
      { path: '/' },
      { path: '/api/orders/{id}', methods: ['GET', 'DELETE'] },
      { path: '/api/orders/{id}/items/{item}', host: 'api.example.com' },
      { path: '/files/{path...}', host: '*.example.com', methods: ['GET'] },
      {
        path: "/a-b_c.d~e!$&'()*+,;=:@",
        cors: { allowOrigins: ['https://app.example.com:8443'], allowCredentials: true },
      },
      { path: '/api/orders/{id}', methods: ['POST'] },
    ];
    assert.deepEqual(refusals(routes), []);
  });

  const refused: [string, unknown, RegExp][] = [
    ['no leading slash', { path: 'api' }, /routes\[0\]\.path: must be a path template/],
    ['an empty segment', { path: '/api//x' }, /routes\[0\]\.path: must be a path template/],
    ['a trailing slash', { path: '/api/' }, /routes\[0\]\.path: must be a path template/],
    ['a wildcard not last', { path: '/{rest...}/x' }, /routes\[0\]\.path: must be a path template/],
    ['a parameter inside a segment', { path: '/a{id}' }, /routes\[0\]\.path: must be a path template/],
    ['a parameter name with a dash', { path: '/{a-b}' }, /routes\[0\]\.path: must be a path template/],
    ['a percent escape', { path: '/a%2Fb' }, /routes\[0\]\.path: must be a path template/],
    ['a dot segment', { path: '/a/../b' }, /routes\[0\]\.path: must not have \. or \.\. segments/],
    ['a single dot segment', { path: '/a/.' }, /routes\[0\]\.path: must not have \. or \.\. segments/],
    [
      'a parameter named twice',
      { path: '/{id}/x/{id}' },
      /routes\[0\]\.path: must not name a parameter twice/,
    ],
    [
      'a parameter and wildcard alike',
      { path: '/{id}/{id...}' },
      /routes\[0\]\.path: must not name a parameter twice/,
    ],
    ['an unknown method', { path: '/a', methods: ['TRACE'] }, /routes\[0\]\.methods\[0\]: must be one of/],
    [
      'a host with a port',
      { path: '/a', host: 'api.example.com:80' },
      /routes\[0\]\.host: must be a lower-case DNS name/,
    ],
    ['a host wildcard in the middle', { path: '/a', host: 'api.*.com' }, /routes\[0\]\.host/],
    [
      'an origin with a path',
      { path: '/a', cors: { allowOrigins: ['https://x.com/p'] } },
      /allowOrigins\[0\]: must be "\*" or an origin/,
    ],
    [
      'credentials for any origin',
      { path: '/a', cors: { allowOrigins: ['*'], allowCredentials: true } },
      /cors\.allowCredentials: cannot be true with the origin "\*"/,
    ],
    [
      'nine parameters',
      { path: '/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}' },
      /routes\[0\]\.path: must not have more than 8 parameters/,
    ],
    ['a path too long', { path: `/${'a'.repeat(300)}` }, /routes\[0\]\.path: must NOT have more than 128/],
    [
      'token requirements without auth jwt',
      { path: '/a', jwt: { requiredScopes: ['orders:write'] } },
      /http\.routes: may give a route jwt requirements only with auth jwt/,
    ],
    [
      'more than 20 required claims on a route',
      {
        path: '/a',
        jwt: { requiredClaims: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, 'v'])) },
      },
      /routes\[0\]\.jwt\.requiredClaims: must NOT have more than 20/,
    ],
  ];
  for (const [what, route, expected] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      const found = refusals([route]);
      assert.ok(
        found.some((r) => expected.test(r)),
        found.join('\n'),
      );
    });
  }

  for (const prefix of [
    '/function/x',
    '/async-function',
    '/system/functions',
    '/ui',
    '/healthz',
    '/readyz',
    '/metrics',
    '/webhook/a',
    '/_/health',
    '/_',
  ]) {
    it(`refuses a route under the gateway's own ${prefix}`, () => {
      const found = refusals([{ path: prefix }]);
      assert.ok(
        found.some((r) => /routes\[0\]\.path: must not start with \/function/.test(r)),
        found.join('\n'),
      );
    });
  }

  it('takes a path that only begins like a reserved one', () => {
    assert.deepEqual(
      refusals([{ path: '/functions' }, { path: '/systems/{x}' }, { path: '/metrics-v2' }]),
      [],
    );
  });

  it('refuses the same path, host and method twice in one Function, not different methods', () => {
    const twice = refusals([
      { path: '/a/{id}', methods: ['GET'] },
      { path: '/a/{id}', methods: ['GET', 'PUT'] },
    ]);
    assert.ok(
      twice.some((r) =>
        /spec\.http\.routes: must not have the same path and host twice with a method in common/.test(r),
      ),
      twice.join('\n'),
    );
    assert.deepEqual(
      refusals([
        { path: '/a/{id}', methods: ['GET'] },
        { path: '/a/{id}', methods: ['PUT'] },
      ]),
      [],
    );
    assert.deepEqual(refusals([{ path: '/a/{id}' }, { path: '/a/{id}', host: 'x.example.com' }]), []);
  });

  it('bounds the number of routes', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ path: `/r${i}` }));
    assert.ok(refusals(many).some((r) => /spec\.http\.routes: must NOT have more than 16/.test(r)));
  });
});

describe('route claims', () => {
  const r = (path: string, extra: Partial<HttpRoute> = {}): HttpRoute => ({ path, ...extra });

  it('sees {a} and {b} as the same shape', () => {
    assert.equal(templateShape('/a/{x}/{rest...}'), templateShape('/a/{y}/{tail...}'));
    assert.notEqual(templateShape('/a/{x}'), templateShape('/a/x'));
  });

  it('gives a contested route to the earlier Function and names it to the later one', () => {
    const claims = resolveRouteClaims([
      {
        key: 'default/later',
        creationTimestamp: '2026-01-02T00:00:00Z',
        routes: [r('/o/{b}', { methods: ['GET'] }), r('/mine')],
      },
      { key: 'default/earlier', creationTimestamp: '2026-01-01T00:00:00Z', routes: [r('/o/{a}')] },
    ]);
    assert.deepEqual(claims.granted.get('default/earlier'), [0]);
    assert.deepEqual(claims.granted.get('default/later'), [1]);
    const condition = routesCondition(claims.conflicts.get('default/later'));
    assert.equal(condition.status, 'False');
    assert.equal(condition.reason, 'RouteConflict');
    assert.match(
      condition.message ?? '',
      /route GET \/o\/\{b\} \(spec\.http\.routes\[0\]\) is held by Function default\/earlier/,
    );
    assert.equal(routesCondition(claims.conflicts.get('default/earlier')).status, 'True');
  });

  it('breaks a tie of creation times by namespace/name, and lets disjoint methods and hosts share a shape', () => {
    const at = '2026-01-01T00:00:00Z';
    const claims = resolveRouteClaims([
      { key: 'b/x', creationTimestamp: at, routes: [r('/p')] },
      { key: 'a/x', creationTimestamp: at, routes: [r('/p')] },
      { key: 'c/x', creationTimestamp: at, routes: [r('/q', { methods: ['GET'] })] },
      {
        key: 'd/x',
        creationTimestamp: at,
        routes: [r('/q', { methods: ['POST'] }), r('/p', { host: 'h.example.com' })],
      },
    ]);
    assert.deepEqual(
      claims.conflicts.get('b/x')?.map((c) => c.holder),
      ['a/x'],
    );
    assert.deepEqual(claims.granted.get('d/x'), [0, 1]);
  });
});
