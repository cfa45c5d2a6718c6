import assert from 'node:assert/strict';
import type { HttpRoute } from '@nimbus/api';
import { HttpRoutes, type RouteLookup } from '../src/routing/http-routes.js';

const AT = '2026-01-01T00:00:00Z';

/** What a lookup came to, in a line: `fn {params}`, `405 GET,PUT`, `refused`, `none`. */
function outcome(lookup: RouteLookup): string {
  switch (lookup.kind) {
    case 'found':
      return `${lookup.target.fnKey} ${lookup.params}`;
    case 'method':
      return `405 ${lookup.allow.join(',')}`;
    case 'refused':
      return lookup.internal ? 'internal' : 'refused';
    case 'none':
      return 'none';
  }
}

describe('HttpRoutes: matching', () => {
  const table = new HttpRoutes();
  const fn = (name: string, ...routes: HttpRoute[]) => table.set(`default/${name}`, AT, routes);
  fn('literal', { path: '/users/me' });
  fn('param', { path: '/users/{id}' });
  fn('deep', { path: '/users/{id}/posts/{post}', methods: ['GET'] });
  fn('wild', { path: '/users/{id}/{rest...}' });
  fn('files', { path: '/files/{path...}', methods: ['GET'] });
  fn(
    'post-only',
    { path: '/orders', methods: ['POST'] },
    { path: '/orders/{id}', methods: ['PUT', 'DELETE'] },
  );
  fn('any-orders', { path: '/orders/{id}/items' });
  fn('back', { path: '/a/{x}/c' }, { path: '/{y}/b/d' });
  fn('root', { path: '/' });
  fn('listed', { path: '/m/{x}', methods: ['GET'] });
  fn('unlisted', { path: '/m/{y}', methods: ['POST'] }, { path: '/n' });
  fn('hosted', { path: '/users/{id}', host: 'api.example.com' });
  fn(
    'wildhost',
    { path: '/users/{id}', host: '*.example.com' },
    { path: '/only-here', host: '*.example.com' },
  );
  fn('deeper-wildhost', { path: '/users/{id}', host: '*.eu.example.com' });

  const cases: [method: string, host: string | undefined, url: string, expected: string][] = [
    ['GET', undefined, '/users/me', 'default/literal {}'],
    ['GET', undefined, '/users/42', 'default/param {"id":"42"}'],
    ['GET', undefined, '/users/42?x=1', 'default/param {"id":"42"}'],
    ['GET', undefined, '/users/42/posts/7', 'default/deep {"id":"42","post":"7"}'],
    ['POST', undefined, '/users/42/posts/7', 'default/wild {"id":"42","rest":"posts/7"}'],
    ['GET', undefined, '/users/42/x/y/z', 'default/wild {"id":"42","rest":"x/y/z"}'],
    ['GET', undefined, '/files', 'default/files {"path":""}'],
    ['GET', undefined, '/files/', 'default/files {"path":""}'],
    ['GET', undefined, '/files/a/b.txt', 'default/files {"path":"a/b.txt"}'],
    ['GET', undefined, '/files/a%2Fb/c', 'default/files {"path":"a/b/c"}'],
    // An encoded slash stays in its segment: one parameter, never two segments.
    ['GET', undefined, '/users/a%2Fb', 'default/param {"id":"a/b"}'],
    ['GET', undefined, '/users/caf%C3%A9', 'default/param {"id":"café"}'],
    ['GET', undefined, '/users/%6De', 'default/literal {}'],
    ['GET', undefined, '/a/b/d', 'default/back {"y":"a"}'],
    ['GET', undefined, '/a/z/c', 'default/back {"x":"z"}'],
    ['GET', undefined, '/', 'default/root {}'],
    ['GET', undefined, '/orders', '405 POST'],
    ['HEAD', undefined, '/files/x', 'default/files {"path":"x"}'],
    ['GET', undefined, '/orders/1', '405 DELETE,PUT'],
    ['PUT', undefined, '/orders/1', 'default/post-only {"id":"1"}'],
    ['GET', undefined, '/m/1', 'default/listed {"x":"1"}'],
    ['POST', undefined, '/m/1', 'default/unlisted {"y":"1"}'],
    ['DELETE', undefined, '/m/1', '405 GET,POST'],
    ['GET', undefined, '/nothing/here', 'none'],
    ['GET', undefined, '/users', 'none'],
    ['GET', undefined, '/users//x', 'none'],
    ['GET', 'api.example.com', '/users/1', 'default/hosted {"id":"1"}'],
    ['GET', 'API.Example.com:8080', '/users/1', 'default/hosted {"id":"1"}'],
    ['GET', 'www.example.com', '/users/1', 'default/wildhost {"id":"1"}'],
    ['GET', 'a.eu.example.com', '/users/1', 'default/deeper-wildhost {"id":"1"}'],
    ['GET', 'example.com', '/users/1', 'default/param {"id":"1"}'],
    ['GET', 'example.com', '/only-here', 'none'],
    ['GET', 'www.example.com', '/users/me', 'default/wildhost {"id":"me"}'],
    ['GET', 'other.org', '/users/1', 'default/param {"id":"1"}'],
    // Dot segments, plain or encoded, and the runtime's internal routes are refused, never matched.
    ['GET', undefined, '/files/../users/me', 'refused'],
    ['GET', undefined, '/files/%2e%2e/x', 'refused'],
    ['GET', undefined, '/files/.%2E/x', 'refused'],
    ['GET', undefined, '/files/./x', 'refused'],
    ['GET', undefined, '/users/%zz', 'refused'],
    ['GET', undefined, '/_/health', 'internal'],
    ['GET', undefined, '/%5F/ready', 'internal'],
    ['GET', undefined, '//_/metrics', 'internal'],
  ];
  for (const [method, host, url, expected] of cases) {
    it(`${method} ${host ?? ''}${url} → ${expected}`, () =>
      assert.equal(outcome(table.match(method, host, url)), expected));
  }

  it('keeps a __proto__ parameter a parameter', () => {
    const own = new HttpRoutes();
    own.set('default/p', AT, [{ path: '/p/{__proto__}' }]);
    assert.equal(outcome(own.match('GET', undefined, '/p/x')), 'default/p {"__proto__":"x"}');
  });
});

describe('HttpRoutes: conflicts', () => {
  it('serves a contested route from the earlier Function only, and hands it on when that one goes', () => {
    const table = new HttpRoutes();
    table.set('default/later', '2026-01-02T00:00:00Z', [{ path: '/o/{b}' }, { path: '/later' }]);
    table.set('default/earlier', AT, [{ path: '/o/{a}', methods: ['GET'] }]);
    assert.equal(outcome(table.match('GET', undefined, '/o/1')), 'default/earlier {"a":"1"}');
    assert.equal(outcome(table.match('GET', undefined, '/later')), 'default/later {}');
    // The later Function did not get /o/{b} at all: not even for the methods the earlier one lacks.
    assert.equal(outcome(table.match('POST', undefined, '/o/1')), '405 GET');
    assert.equal(table.size, 2);
    table.remove('default/earlier');
    assert.equal(outcome(table.match('POST', undefined, '/o/1')), 'default/later {"b":"1"}');
  });
});

describe('HttpRoutes: 5,000 routes from 5,000 Functions', () => {
  it('finds each, and costs a few microseconds a match', () => {
    const table = new HttpRoutes();
    for (let i = 0; i < 5000; i++) {
      table.set(`default/fn-${i}`, AT, [{ path: `/api/v1/svc-${i}/items/{id}`, methods: ['GET'] }]);
    }
    assert.equal(table.size, 5000);
    assert.equal(
      outcome(table.match('GET', undefined, '/api/v1/svc-4321/items/9')),
      'default/fn-4321 {"id":"9"}',
    );
    const started = performance.now();
    const n = 20_000;
    for (let i = 0; i < n; i++) table.match('GET', undefined, `/api/v1/svc-${i % 5000}/items/${i}?q=1`);
    const perMatchUs = ((performance.now() - started) * 1000) / n;
    // Generous: a shared 2-core machine; the benchmark reports the real figure.
    assert.ok(perMatchUs < 50, `${perMatchUs.toFixed(2)} µs a match`);
  });
});
