import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { type HttpJwt, createLogger } from '@nimbus/api';
import { ManualClock, send } from '@nimbus/testkit';
import { TestIdentityProvider, type TestKey, makeKey } from '@nimbus/testkit/identity-provider';
import { DEFAULT_JWKS_CACHE_POLICY } from '../src/auth/jwks-cache.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { echoRequest, upstream } from './replicas.js';

/**
 * The gateway's sync path with auth jwt, its clock stepped by the test: a key rotation at the
 * identity provider is followed without a restart, and what reaches the replica is the claims
 * header, not the token.
 */
describe('gateway: auth jwt on the invoke path, through a key rotation', function () {
  this.timeout(20_000);
  let idp: TestIdentityProvider;
  let k1: TestKey;
  let k2: TestKey;
  let replica: Server;
  let replicaPort: number;
  let gateway: Gateway;
  let base: string;
  let routes: RouteTable;
  const clock = new ManualClock(Date.now());

  const nowS = () => Math.floor(clock.now() / 1000);
  const call = async (key: TestKey) =>
    send(base, '/function/orders', {
      headers: { authorization: `Bearer ${await idp.sign(key, {}, nowS())}` },
    });

  before(async () => {
    [k1, k2] = await Promise.all([makeKey('k1'), makeKey('k2', 'EdDSA')]);
    idp = await TestIdentityProvider.start([k1]);
    const echo = await upstream(echoRequest);
    replica = echo.server;
    replicaPort = echo.port;
    routes = new RouteTable();
    const jwt: HttpJwt = { issuer: idp.issuer, audiences: ['orders'], jwksUrl: idp.jwksUrl };
    routes.upsert({
      name: 'orders',
      namespace: 'default',
      timeoutMs: 5000,
      concurrency: 10,
      auth: 'jwt',
      jwt,
    });
    routes.setEndpoints('default', 'orders', [{ id: 'orders-0', host: '127.0.0.1', port: replicaPort }]);
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0', NIMBUS_EGRESS_ALLOW: 'loopback' });
    const container = createGatewayContainer(config, { routes, logger: createLogger({}, 'error') });
    container.register(TOKENS.Clock, { useValue: clock });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  after(async () => {
    await gateway?.close();
    replica?.closeAllConnections();
    await new Promise((r) => replica?.close(r));
    await idp?.close();
  });

  it('hands the replica the claims header and not the token', async () => {
    const reply = await call(k1);
    assert.equal(reply.status, 200, reply.text);
    const { headers } = reply.json<{ headers: Record<string, string> }>();
    assert.equal(headers.authorization, undefined);
    assert.equal(JSON.parse(headers['x-nimbus-auth'] ?? '{}').sub, 'ada');
  });

  it("holds a route to its own scopes, and a call by name to every route's", async () => {
    routes.http.set('default/orders', '2026-01-01T00:00:00Z', [
      { path: '/api/orders/{id}', methods: ['GET'] },
      { path: '/api/orders', methods: ['POST'], jwt: { requiredScopes: ['orders:write'] } },
    ]);
    try {
      const as = async (scope: string) => ({
        authorization: `Bearer ${await idp.sign(k1, { scope }, nowS())}`,
        'content-type': 'application/json',
      });
      const reader = await as('orders:read');
      const writer = await as('orders:read orders:write');
      const read = await send(base, '/api/orders/42', { headers: reader });
      assert.equal(read.status, 200, read.text);
      assert.equal(
        read.json<{ headers: Record<string, string> }>().headers['x-nimbus-params'],
        '{"id":"42"}',
      );
      const post = (path: string, headers: Record<string, string>) =>
        send(base, path, { method: 'POST', headers, body: '{}' });
      const refused = await post('/api/orders', reader);
      assert.deepEqual([refused.status, refused.json().reason], [403, 'missing_scope'], refused.text);
      assert.equal((await post('/api/orders', writer)).status, 200);
      // The attack: the same function by name, with the route's path after it.
      const byName = await post('/function/orders/api/orders', reader);
      assert.deepEqual([byName.status, byName.json().reason], [403, 'missing_scope'], byName.text);
      const queued = await post('/async-function/orders/api/orders', reader);
      assert.deepEqual([queued.status, queued.json().reason], [403, 'missing_scope'], queued.text);
      assert.equal((await post('/function/orders/api/orders', writer)).status, 200);
    } finally {
      routes.http.set('default/orders', undefined, undefined);
    }
    const plain = await send(base, '/function/orders', {
      method: 'POST',
      headers: { authorization: `Bearer ${await idp.sign(k1, {}, nowS())}` },
      body: '{}',
    });
    assert.equal(plain.status, 200, "without routes, the Function's own requirements alone");
  });

  it("holds each signed-in subject to its own rate on a per-caller limit, not to the anonymous callers'", async () => {
    const jwt: HttpJwt = { issuer: idp.issuer, audiences: ['orders'], jwksUrl: idp.jwksUrl };
    routes.upsert({
      name: 'ledger',
      namespace: 'default',
      timeoutMs: 5000,
      concurrency: 10,
      auth: 'jwt',
      jwt,
      // The clock does not move in this test: a spent bucket stays spent.
      rateLimit: {
        requestsPerSecond: 100,
        anonymous: { requestsPerSecond: 0.001, burst: 1 },
        perCaller: { requestsPerSecond: 0.001, burst: 2 },
      },
    });
    routes.setEndpoints('default', 'ledger', [{ id: 'ledger-0', host: '127.0.0.1', port: replicaPort }]);
    const as = async (sub: string) => ({ authorization: `Bearer ${await idp.sign(k1, { sub }, nowS())}` });
    const mallory = await as('mallory');
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await send(base, '/function/ledger', { headers: mallory })).status);
    assert.deepEqual(statuses, [200, 200, 429], 'mallory has her own burst of 2');
    // The same subject by the async door, with a fresh token: refused before anything is queued.
    const queued = await send(base, '/async-function/ledger', {
      method: 'POST',
      headers: await as('mallory'),
      body: '{}',
    });
    assert.equal(queued.status, 429, queued.text);
    assert.equal(queued.json<{ limit: { scope: string } }>().limit.scope, 'caller');
    // Another subject still gets its own two, though the anonymous bucket holds one call only.
    const alice = await as('alice');
    const alices = [];
    for (let i = 0; i < 2; i++)
      alices.push((await send(base, '/function/ledger', { headers: alice })).status);
    assert.deepEqual(alices, [200, 200], "mallory's calls spent none of alice's");
  });

  it('follows a rotation without a restart: the new key at once, the old one refused after the refresh', async () => {
    idp.publish([k1, k2]);
    clock.advance(DEFAULT_JWKS_CACHE_POLICY.cooldownMs);
    assert.equal((await call(k2)).status, 200, 'a token of the new key');
    assert.equal(idp.fetches, 2);
    idp.publish([k2]);
    assert.equal((await call(k1)).status, 200, 'the old key still verifies until the set is fetched again');
    clock.advance(DEFAULT_JWKS_CACHE_POLICY.maxAgeMs);
    const old = await call(k1);
    assert.deepEqual([old.status, old.json().reason], [401, 'unknown_key']);
    assert.equal((await call(k2)).status, 200);
    assert.equal(idp.fetches, 3, 'one fetch for the stale set; the unknown kid waited out the cooldown');
  });
});
