import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { PROVISIONAL_TTL_MS } from '../src/routing/provisional-endpoints.js';
import type { FunctionRoute } from '../src/routing/route-table.js';
import { routeAtZero } from './route-at-zero.js';

const at = (host: string, port = 8080) => ({ id: `${host}:${port}`, host, port });
const ids = (route: FunctionRoute | undefined) => route?.endpoints.map((e) => e.id) ?? [];

function table() {
  const clock = new ManualClock(1_000_000);
  return { clock, ...routeAtZero(clock) };
}

describe('RouteTable: provisional endpoints (known ready before an EndpointSlice lists them)', () => {
  it('joins the route at once and releases its held requests', () => {
    const { routes, route, released, hold } = table();
    hold('first');
    hold('second');
    assert.equal(routes.addProvisional('team', 'hello', at('10.244.1.2')), true);
    assert.deepEqual(ids(route), ['10.244.1.2:8080']);
    assert.equal(route.endpoints[0]?.origin, 'http://10.244.1.2:8080');
    assert.deepEqual(released, ['first', 'second']);
    assert.equal(route.held.size, 0);
    assert.equal(route.unavailableReason, undefined);
  });

  it('is kept across slice updates that do not list it, and removed when the TTL passes (not before)', () => {
    const { clock, routes, route } = table();
    routes.addProvisional('team', 'hello', at('10.244.1.2'));
    clock.advance(1000);
    routes.setEndpoints('team', 'hello', [at('10.244.9.9')]);
    assert.deepEqual(ids(route), ['10.244.9.9:8080', '10.244.1.2:8080']);
    routes.setEndpoints('team', 'hello', [], 'the function has no ready replicas yet');
    assert.deepEqual(ids(route), ['10.244.1.2:8080']);
    clock.advance(PROVISIONAL_TTL_MS - 1001);
    assert.deepEqual(ids(route), ['10.244.1.2:8080'], 'one millisecond before its TTL');
    clock.advance(1);
    assert.deepEqual(ids(route), []);
    assert.equal(
      route.unavailableReason,
      'the function has no ready replicas yet',
      'the slice’s reason again',
    );
    assert.equal(clock.pending, 0);
  });

  it('a slice that lists the same host:port takes over: the same endpoint (its in-flight count) stays, and goes when the slice drops it', () => {
    const { clock, routes, route } = table();
    routes.addProvisional('team', 'hello', at('10.244.1.2'));
    const provisional = route.endpoints[0];
    assert.ok(provisional !== undefined);
    provisional.inflight = 3;
    routes.setEndpoints('team', 'hello', [at('10.244.1.2')]);
    assert.equal(route.endpoints[0], provisional, 'kept, with its count');
    assert.equal(route.endpoints[0]?.inflight, 3);
    assert.equal(clock.pending, 0, 'its TTL is cleared: the slice rules now');
    routes.setEndpoints('team', 'hello', [], 'the function has no ready replicas yet');
    assert.deepEqual(ids(route), [], 'gone with the slice, not kept as provisional');
    clock.advance(PROVISIONAL_TTL_MS);
    assert.deepEqual(ids(route), []);
  });

  it('one the slice lists already, or a second offer of the same, changes nothing; an unknown route takes none', () => {
    const { clock, routes, route } = table();
    routes.setEndpoints('team', 'hello', [at('10.244.1.2')]);
    assert.equal(routes.addProvisional('team', 'hello', at('10.244.1.2')), false);
    assert.equal(clock.pending, 0);
    assert.equal(routes.addProvisional('team', 'hello', at('10.244.1.3')), true);
    clock.advance(5000);
    assert.equal(routes.addProvisional('team', 'hello', at('10.244.1.3')), false);
    clock.advance(PROVISIONAL_TTL_MS - 5000);
    assert.deepEqual(ids(route), ['10.244.1.2:8080'], 'a second offer did not renew the TTL');
    assert.equal(routes.addProvisional('team', 'nobody', at('10.244.1.4')), false);
    assert.equal(clock.pending, 0);
  });

  it('removing the function forgets its provisional endpoints and their timers', () => {
    const { clock, routes } = table();
    routes.addProvisional('team', 'hello', at('10.244.1.2'));
    routes.addProvisional('team', 'hello', at('fd00::7'));
    assert.equal(clock.pending, 2);
    routes.remove('team', 'hello');
    assert.equal(clock.pending, 0);
    routes.upsert({ name: 'hello', namespace: 'team', timeoutMs: 1000, concurrency: 1, auth: 'none' });
    assert.deepEqual(ids(routes.get('team', 'hello')), []);
  });

  it('an IPv6 address gets a bracketed origin', () => {
    const { routes, route } = table();
    routes.addProvisional('team', 'hello', { id: '[fd00::7]:8080', host: 'fd00::7', port: 8080 });
    assert.equal(route.endpoints[0]?.origin, 'http://[fd00::7]:8080');
  });
});
