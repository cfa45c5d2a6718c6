import assert from 'node:assert/strict';
import { parseInvokePath } from '../src/invoke/function-path.js';
import { pickEndpoint } from '../src/routing/balancer.js';
import { type Endpoint, RouteTable } from '../src/routing/route-table.js';

describe('parseInvokePath', () => {
  const cases: [string, unknown][] = [
    ['/function/hello', { name: 'hello', namespace: 'default', upstreamPath: '/', internal: false }],
    ['/function/hello/', { name: 'hello', namespace: 'default', upstreamPath: '/', internal: false }],
    [
      '/function/hello?name=Ada',
      { name: 'hello', namespace: 'default', upstreamPath: '/?name=Ada', internal: false },
    ],
    [
      '/function/hello.team/a/b?x=1&x=2',
      { name: 'hello', namespace: 'team', upstreamPath: '/a/b?x=1&x=2', internal: false },
    ],
    [
      '/function/hello/%2e%2e/x',
      { name: 'hello', namespace: 'default', upstreamPath: '/%2e%2e/x', internal: false },
    ],
    [
      '/function/hello/_/health',
      { name: 'hello', namespace: 'default', upstreamPath: '/_/health', internal: true },
    ],
    [
      '/function/hello/%5F/ready',
      { name: 'hello', namespace: 'default', upstreamPath: '/%5F/ready', internal: true },
    ],
    [
      '/function/hello/x/../_/',
      { name: 'hello', namespace: 'default', upstreamPath: '/x/../_/', internal: true },
    ],
    [
      '/function/hello?/_/health',
      { name: 'hello', namespace: 'default', upstreamPath: '/?/_/health', internal: false },
    ],
    ['/function/', { invalid: '' }],
    ['/function/..', { invalid: '..' }],
    ['/function/%2e%2e/etc', { invalid: '%2e%2e' }],
    ['/function/a%2fb', { invalid: 'a%2fb' }],
    ['/function/Hello', { invalid: 'Hello' }],
    ['/function/hello.', { invalid: 'hello.' }],
    ['/function/hello.a.b', { invalid: 'hello.a.b' }],
    [
      '/function/hello@canary/a?b=1',
      { name: 'hello', namespace: 'default', upstreamPath: '/a?b=1', internal: false, tag: 'canary' },
    ],
    [
      '/function/hello.team@blue-2',
      { name: 'hello', namespace: 'team', upstreamPath: '/', internal: false, tag: 'blue-2' },
    ],
    ['/function/hello@', { invalid: 'hello@' }],
    ['/function/hello@Canary', { invalid: 'hello@Canary' }],
    ['/function/hello@a@b', { invalid: 'hello@a@b' }],
    ['/function/hello@-x', { invalid: 'hello@-x' }],
    ['/function/hello@canary.team', { invalid: 'hello@canary.team' }],
    ['/function/@canary', { invalid: '@canary' }],
    ['/function/hello%40canary', { invalid: 'hello%40canary' }],
  ];
  for (const [url, expected] of cases) {
    it(`${url} → ${JSON.stringify(expected)}`, () =>
      assert.deepEqual(parseInvokePath(url, 'default'), expected));
  }
});

describe('pickEndpoint', () => {
  const endpoints = (...inflight: number[]): Endpoint[] =>
    inflight.map((n, i) => ({ id: `e${i}`, host: '127.0.0.1', port: 1000 + i, origin: '', inflight: n }));

  it('picks the replica with the fewest requests in flight', () => {
    assert.equal(pickEndpoint(endpoints(3, 1, 2), 0)?.id, 'e1');
  });
  it('shares ties round-robin from the starting turn', () => {
    const idle = endpoints(0, 0, 0);
    assert.deepEqual(
      [0, 1, 2, 3].map((turn) => pickEndpoint(idle, turn)?.id),
      ['e0', 'e1', 'e2', 'e0'],
    );
  });
  it('skips replicas that already failed for this request', () => {
    const list = endpoints(0, 5);
    assert.equal(pickEndpoint(list, 0, new Set([list[0] as Endpoint]))?.id, 'e1');
  });
  it('gives nothing when every replica is excluded or there are none', () => {
    const list = endpoints(0);
    assert.equal(pickEndpoint(list, 0, new Set(list)), undefined);
    assert.equal(pickEndpoint([], 0), undefined);
  });
});

describe('RouteTable', () => {
  const settings = { name: 'f', namespace: 'ns', timeoutMs: 1000, concurrency: 5, auth: 'none' as const };

  it('keeps the in-flight count of a replica that stays when endpoints change', () => {
    const table = new RouteTable();
    table.upsert(settings);
    table.setEndpoints('ns', 'f', [{ id: 'a', host: 'h', port: 1 }]);
    const a = table.get('ns', 'f')?.endpoints[0] as Endpoint;
    a.inflight = 4;
    table.setEndpoints('ns', 'f', [
      { id: 'a', host: 'h', port: 1 },
      { id: 'b', host: 'h', port: 2 },
    ]);
    assert.deepEqual(
      table.get('ns', 'f')?.endpoints.map((e) => [e.id, e.inflight]),
      [
        ['a', 4],
        ['b', 0],
      ],
    );
  });

  it('keeps endpoints across a settings change and records why none is ready', () => {
    const table = new RouteTable();
    table.upsert(settings);
    table.setEndpoints('ns', 'f', [], 'handler failed to load: boom');
    table.upsert({ ...settings, timeoutMs: 5000 });
    const route = table.get('ns', 'f');
    assert.equal(route?.timeoutMs, 5000);
    assert.equal(route?.unavailableReason, 'handler failed to load: boom');
    table.remove('ns', 'f');
    assert.equal(table.get('ns', 'f'), undefined);
  });
});
