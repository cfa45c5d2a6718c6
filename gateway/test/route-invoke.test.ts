import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { type HttpRoute, createLogger, systemClock } from '@nimbus/api';
import { ManualClock, eventually, send } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { FunctionStats } from '../src/stats/function-stats.js';
import { TOKENS } from '../src/tokens.js';
import { type Handler, echoRequest, upstream } from './replicas.js';

const INVOKER = 'invoke-key-0123456789';
const APP = 'https://app.example.com';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
}

describe("a Function's own routes through the gateway (real sockets)", function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let gateway: Gateway;
  let base: string;
  const servers: Server[] = [];
  let woken: string[];

  /** A function with replicas on `ports` (none: scaled to zero) and `http` routes. */
  const fn = (name: string, ports: number[], http: HttpRoute[], auth: 'none' | 'key' = 'none') => {
    routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth });
    routes.setEndpoints(
      'default',
      name,
      ports.map((port, i) => ({ id: `${name}-${i}`, host: '127.0.0.1', port })),
      'scaled to zero; waking',
    );
    routes.http.set(`default/${name}`, '2026-01-01T00:00:00Z', http);
  };
  const serve = async (handler: Handler) => {
    const u = await upstream(handler);
    servers.push(u.server);
    return u.port;
  };

  beforeEach(async () => {
    routes = new RouteTable();
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `invoke:${INVOKER}`,
      NIMBUS_WAKE_TIMEOUT_MS: '400',
    });
    woken = [];
    const container = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error'),
      waker: { wake: (r) => woken.push(r.key) },
    });
    container.register(TOKENS.Clock, { useValue: new ManualClock() });
    container.register(TOKENS.FunctionStats, {
      useValue: new FunctionStats(config.ui.stats, new Registry(), routes, systemClock),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  afterEach(async () => {
    await gateway.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('forwards the request by its own path and query, with the parameters the gateway matched', async () => {
    fn('orders', [await serve(echoRequest)], [{ path: '/api/orders/{id}/{rest...}', methods: ['GET'] }]);
    const reply = await send(base, '/api/orders/a%2Fb/x/y?z=1', {
      headers: { 'x-nimbus-params': '{"id":"forged"}', 'X-Nimbus-Params': '{"admin":"yes"}' },
    });
    assert.equal(reply.status, 200, reply.text);
    const seen = reply.json<Seen>();
    assert.equal(seen.url, '/api/orders/a%2Fb/x/y?z=1');
    // The caller's copy never reaches the replica: the gateway's own replaces it.
    assert.deepEqual(JSON.parse(seen.headers['x-nimbus-params'] as string), { id: 'a/b', rest: 'x/y' });
  });

  it('holds a routed request while the function wakes, as /function does, and sends it with its parameters', async () => {
    fn('cold', [], [{ path: '/cold/{id}', cors: { allowOrigins: [APP] } }]);
    const pending = send(base, '/cold/7', { method: 'POST', body: 'held body', headers: { origin: APP } });
    const held = routes.get('default', 'cold');
    await eventually(() => (held?.held.size === 1 ? true : undefined), 5000, 'the request to be held');
    assert.deepEqual(woken, ['default/cold']);
    routes.setEndpoints('default', 'cold', [
      { id: 'cold-0', host: '127.0.0.1', port: await serve(echoRequest) },
    ]);
    const reply = await pending;
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.equal(reply.headers['access-control-allow-origin'], APP);
    const seen = reply.json<Seen & { body: string }>();
    assert.equal(seen.body, 'held body');
    assert.equal(seen.headers['x-nimbus-params'], '{"id":"7"}');
  });

  it('drops a caller-sent x-nimbus-params on /function/{name}, which has no parameters', async () => {
    fn('plain', [await serve(echoRequest)], []);
    const reply = await send(base, '/function/plain', { headers: { 'x-nimbus-params': '{"id":"forged"}' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.json<Seen>().headers['x-nimbus-params'], undefined);
  });

  it('answers 405 with Allow for a method no route takes, and 404 for no route', async () => {
    fn('orders', [await serve(echoRequest)], [{ path: '/api/orders/{id}', methods: ['GET', 'PUT'] }]);
    const wrong = await send(base, '/api/orders/1', { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, PUT');
    assert.equal(wrong.json<{ code: string }>().code, 'MethodNotAllowed');
    const none = await send(base, '/api/nothing');
    assert.equal(none.status, 404);
    assert.equal(none.json<{ code: string }>().code, 'RouteNotFound');
  });

  it('admits a routed request as /function does: a key-protected function wants its key, and never sees it', async () => {
    fn('secret', [await serve(echoRequest)], [{ path: '/s/{x}' }], 'key');
    assert.equal((await send(base, '/s/1')).status, 401);
    const reply = await send(base, '/s/1', { headers: { authorization: `Bearer ${INVOKER}` } });
    assert.equal(reply.status, 200);
    assert.equal(reply.json<Seen>().headers.authorization, undefined);
  });

  describe('paths that try to reach something else through a wildcard route', () => {
    const attacks: [string, number, string][] = [
      ['/%2e%2e/system/functions', 400, 'MalformedRequest'],
      ['/x/../system/functions', 400, 'MalformedRequest'],
      ['/x/%2E%2e/_/health', 400, 'MalformedRequest'],
      ['/_/health', 404, 'InternalRouteNotForwarded'],
      ['//_/ready', 404, 'InternalRouteNotForwarded'],
      ['/%5F/metrics', 404, 'InternalRouteNotForwarded'],
      ['/x/..%2F_/specialise', 404, 'InternalRouteNotForwarded'],
    ];
    for (const [path, status, code] of attacks) {
      it(`${path} → ${status} ${code}, nothing forwarded`, async () => {
        let forwarded = 0;
        fn(
          'catchall',
          [
            await serve((req, res) => {
              forwarded++;
              echoRequest(req, res);
            }),
          ],
          [{ path: '/{all...}' }],
        );
        const reply = await send(base, path);
        assert.equal(reply.status, status, reply.text);
        assert.equal(reply.json<{ code: string }>().code, code);
        assert.equal(forwarded, 0);
      });
    }

    it('an encoded slash stays one segment: /api/a%2Fb is not /api/a/b', async () => {
      fn('one', [await serve(echoRequest)], [{ path: '/api/{x}' }]);
      fn('two', [await serve(echoRequest)], [{ path: '/api/a/b' }]);
      const reply = await send(base, '/api/a%2Fb');
      assert.deepEqual(JSON.parse(reply.json<Seen>().headers['x-nimbus-params'] as string), { x: 'a/b' });
    });

    it("the gateway's own paths come before any route: /healthz, /system stay the gateway's", async () => {
      let forwarded = 0;
      fn(
        'catchall',
        [
          await serve((req, res) => {
            forwarded++;
            echoRequest(req, res);
          }),
        ],
        [{ path: '/{all...}' }],
      );
      assert.equal((await send(base, '/healthz')).json<{ status: string }>().status, 'ok');
      assert.equal((await send(base, '/system/functions')).status, 401);
      assert.equal(forwarded, 0);
      assert.equal((await send(base, '/anything')).status, 200);
      assert.equal(forwarded, 1);
    });
  });

  describe('CORS', () => {
    const cors: HttpRoute['cors'] = {
      allowOrigins: [APP],
      allowHeaders: ['X-Token'],
      exposeHeaders: ['X-Total'],
      allowCredentials: true,
      maxAge: 600,
    };

    it('answers a preflight itself, without waking a function scaled to zero', async () => {
      fn('cold', [], [{ path: '/c/{id}', methods: ['GET', 'PUT'], cors }]);
      const reply = await send(base, '/c/1', {
        method: 'OPTIONS',
        headers: {
          origin: APP,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'x-token, content-type',
        },
      });
      assert.equal(reply.status, 204);
      assert.equal(reply.headers['access-control-allow-origin'], APP);
      assert.equal(reply.headers['access-control-allow-methods'], 'GET, PUT');
      assert.equal(reply.headers['access-control-allow-headers'], 'x-token, content-type');
      assert.equal(reply.headers['access-control-allow-credentials'], 'true');
      assert.equal(reply.headers['access-control-max-age'], '600');
      assert.match(String(reply.headers.vary), /Origin/);
      assert.deepEqual(woken, [], 'a preflight wakes nothing');
    });

    for (const [what, headers, why] of [
      [
        'origin',
        { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
        /origin "https:\/\/evil\.example" is not allowed/,
      ],
      [
        'method',
        { origin: APP, 'access-control-request-method': 'DELETE' },
        /method "DELETE" is not allowed/,
      ],
      [
        'header',
        { origin: APP, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-admin' },
        /header "x-admin" is not allowed/,
      ],
    ] as const) {
      it(`refuses a preflight for a disallowed ${what} with 403 and no allow headers`, async () => {
        fn('cold', [], [{ path: '/c/{id}', methods: ['GET', 'PUT'], cors }]);
        const reply = await send(base, '/c/1', { method: 'OPTIONS', headers });
        assert.equal(reply.status, 403);
        assert.equal(reply.json<{ code: string }>().code, 'CorsRefused');
        assert.match(reply.json<{ error: string }>().error, why);
        assert.equal(reply.headers['access-control-allow-origin'], undefined);
        assert.deepEqual(woken, []);
      });
    }

    it('adds the allow headers to an actual response for an allowed origin, none for another', async () => {
      fn('warm', [await serve(echoRequest)], [{ path: '/w', cors }]);
      const allowed = await send(base, '/w', { headers: { origin: APP } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers['access-control-allow-origin'], APP);
      assert.equal(allowed.headers['access-control-allow-credentials'], 'true');
      assert.equal(allowed.headers['access-control-expose-headers'], 'X-Total');
      assert.equal(allowed.headers.vary, 'Origin');
      const other = await send(base, '/w', { headers: { origin: 'https://evil.example' } });
      assert.equal(other.status, 200);
      for (const name of Object.keys(other.headers)) assert.doesNotMatch(name, /^access-control-/);
    });

    it("leaves a function's own CORS headers as it set them, not doubled, and adds up Vary", async () => {
      const own: Handler = (_req, res) => {
        res.setHeader('access-control-allow-origin', APP);
        res.setHeader('vary', 'Accept-Encoding');
        res.end('mine');
      };
      fn('own', [await serve(own)], [{ path: '/own', cors }]);
      const reply = await send(base, '/own', { headers: { origin: APP } });
      assert.equal(reply.headers['access-control-allow-origin'], APP);
      assert.equal(reply.headers['access-control-expose-headers'], 'X-Total');
      assert.equal(
        reply.headers.vary,
        'Origin, Accept-Encoding',
        "Vary adds up: the gateway's field and the function's",
      );
      const raw = await rawHeaders(base, '/own', APP);
      assert.equal(raw.filter((h) => h.toLowerCase() === 'access-control-allow-origin').length, 1);
    });
  });
});

/** The response's header names as sent, repeats included. */
async function rawHeaders(base: string, path: string, origin: string): Promise<string[]> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { origin }, agent: false }, (res) => {
      res.resume();
      resolve(res.rawHeaders.filter((_, i) => i % 2 === 0));
    });
    req.on('error', reject);
    req.end();
  });
}
