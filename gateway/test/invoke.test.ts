import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server, ServerResponse } from 'node:http';
import { createLogger, systemClock } from '@nimbus/api';
import { ManualClock, eventually, send, settle } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { FunctionStats } from '../src/stats/function-stats.js';
import { TOKENS } from '../src/tokens.js';
import { type Handler, closedPort, echoRequest, upstream } from './replicas.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';

describe('gateway invoke path (real sockets)', function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let gateway: Gateway;
  let base: string;
  const servers: Server[] = [];
  /** The functions the gateway woke, in order. */
  let woken: string[];
  /** The gateway's clock: a held request's wake timeout passes only when a test steps it. */
  let clock: ManualClock;

  const route = (
    name: string,
    ports: number[],
    extra: Partial<{ timeoutMs: number; auth: 'none' | 'key' }> = {},
  ) => {
    routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none', ...extra });
    routes.setEndpoints(
      'default',
      name,
      ports.map((port, i) => ({ id: `${name}-${i}`, host: '127.0.0.1', port })),
      'starting',
    );
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
      NIMBUS_API_KEYS: `admin:${ADMIN},invoke:${INVOKER}`,
      NIMBUS_MAX_BODY_BYTES: String(64 * 1024),
      NIMBUS_TIMEOUT_GRACE_MS: '100',
      NIMBUS_HOLD_QUEUE_SIZE: '2',
      NIMBUS_WAKE_TIMEOUT_MS: '400',
    });
    woken = [];
    const container = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error'),
      waker: { wake: (r) => woken.push(r.key) },
    });
    clock = new ManualClock();
    container.register(TOKENS.Clock, { useValue: clock });
    // The dashboard's sampler keeps a timer of its own; on the system clock it is not counted here.
    container.register(TOKENS.FunctionStats, {
      useValue: new FunctionStats(config.ui.stats, new Registry(), routes, systemClock),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    const address = await gateway.listen();
    base = `http://127.0.0.1:${address.port}`;
  });

  afterEach(async () => {
    await gateway.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('passes method, rest of the path, query, headers and body, and answers with call id and duration', async () => {
    route('echo', [await serve(echoRequest)]);
    const reply = await send(base, '/function/echo/a/b?x=1&x=2', {
      method: 'PUT',
      headers: {
        'content-type': 'text/plain',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        connection: 'x-hop',
        'x-hop': 'must not pass',
        'x-call-id': 'caller-chose-this',
      },
      body: 'hello body',
    });
    assert.equal(reply.status, 200);
    const seen = reply.json<{ method: string; url: string; headers: Record<string, string>; body: string }>();
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.url, '/a/b?x=1&x=2');
    assert.equal(seen.body, 'hello body');
    assert.equal(seen.headers.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(seen.headers['x-call-id'], 'caller-chose-this');
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(reply.headers['x-upstream'], 'yes');
    assert.equal(reply.headers['x-call-id'], 'caller-chose-this', 'one call id, the one the gateway sets');
    assert.match(String(reply.headers['x-duration-seconds']), /^\d+\.\d{6}$/);
  });

  it('makes a call id when the caller sends none', async () => {
    route('echo', [await serve(echoRequest)]);
    const reply = await send(base, '/function/echo');
    const id = String(reply.headers['x-call-id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(reply.json<{ headers: Record<string, string> }>().headers['x-call-id'], id);
  });

  it('streams a chunked body of a megabyte both ways, byte for byte', async () => {
    // This suite's body limit is 64 KiB: this test needs a gateway with the default one.
    await gateway.close();
    const container = createGatewayContainer(loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0' }), {
      routes,
      logger: createLogger({}, 'error'),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    route('pipe', [await serve((req, res) => req.pipe(res))]);
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
    async function* body() {
      for (let i = 0; i < 16; i++) yield chunk;
    }
    const reply = await send(base, '/function/pipe', { method: 'POST', body: body() });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.length, 16 * chunk.length);
    assert.ok(reply.body.subarray(5 * chunk.length, 6 * chunk.length).equals(chunk));
  });

  it('balances by least in flight across replicas', async () => {
    const held: ServerResponse[] = [];
    const counts = [0, 0];
    const holder =
      (i: 0 | 1): Handler =>
      (req, res) => {
        counts[i] = (counts[i] ?? 0) + 1;
        req.resume();
        held.push(res);
      };
    route('busy', [await serve(holder(0)), await serve(holder(1))]);
    const replies = Array.from({ length: 10 }, () => send(base, '/function/busy'));
    await eventually(() => (held.length === 10 ? true : undefined), 5000, '10 held requests');
    assert.deepEqual(counts, [5, 5]);
    for (const res of held) res.end('ok');
    assert.deepEqual(
      (await Promise.all(replies)).map((r) => r.status),
      Array(10).fill(200),
    );
  });

  it('retries a refused connection on another replica, with or without a body', async () => {
    route('flaky', [await closedPort(), await serve(echoRequest)]);
    for (let i = 0; i < 6; i++) {
      const reply = await send(base, '/function/flaky', { method: 'POST', body: `n=${i}` });
      assert.equal(reply.status, 200);
      assert.equal(reply.json<{ body: string }>().body, `n=${i}`);
    }
  });

  it('answers 503 JSON when no replica accepts the connection', async () => {
    route('gone', [await closedPort()]);
    const reply = await send(base, '/function/gone');
    assert.equal(reply.status, 503);
    assert.equal(reply.json().code, 'FunctionUnavailable');
  });

  it('answers 503 at once with the reason when no replica can come up (a handler that fails to load)', async () => {
    route('broken', []);
    routes.setEndpoints(
      'default',
      'broken',
      [],
      'handler failed to load: SyntaxError: Unexpected token',
      true,
    );
    const reply = await send(base, '/function/broken');
    assert.equal(reply.status, 503);
    assert.deepEqual(woken, [], 'not held, not woken');
    assert.equal(clock.pending, 0, 'no wake timeout started');
    assert.match(String(reply.json().error), /handler failed to load: SyntaxError/);
    assert.equal(reply.headers['retry-after'], '1');
  });

  it('holds a request while no replica is ready, wakes the function, and sends it the moment one is', async () => {
    route('cold', []);
    const pending = send(base, '/function/cold', { method: 'POST', body: 'held body' });
    const held = routes.get('default', 'cold');
    await eventually(() => (held?.held.size === 1 ? true : undefined), 2000, 'the request to be held');
    assert.deepEqual(woken, ['default/cold']);
    const port = await serve(echoRequest);
    routes.setEndpoints('default', 'cold', [{ id: 'cold-0', host: '127.0.0.1', port }]);
    const reply = await pending;
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.equal(
      reply.json<{ body: string }>().body,
      'held body',
      'the body waited unread and arrived whole',
    );
    assert.equal(held?.held.size, 0);
    assert.equal(clock.pending, 0, 'its wake timeout cleared');
    const warm = await send(base, '/function/cold');
    assert.equal(warm.headers['x-nimbus-cold-start'], undefined, 'only a request that waited says so');
    const metrics = (
      await send(base, '/metrics', { headers: { authorization: `Bearer ${ADMIN}` } })
    ).body.toString();
    assert.match(metrics, /nimbus_cold_start_seconds_count\{function="default\/cold"\} 1/);
  });

  it('answers a held request 503 with the reason when no replica is ready within the wake timeout', async () => {
    route('slow-start', []);
    let answered = false;
    const pending = send(base, '/function/slow-start').finally(() => {
      answered = true;
    });
    const route_ = routes.get('default', 'slow-start');
    await eventually(() => (route_?.held.size === 1 ? true : undefined), 2000, 'the request to be held');
    clock.advance(399);
    await settle();
    assert.equal(answered, false, 'still held a millisecond before the wake timeout');
    assert.equal(route_?.held.size, 1);
    clock.advance(1);
    const reply = await pending;
    assert.equal(reply.status, 503);
    assert.match(String(reply.json().error), /starting \(waited 400 ms\)/);
    assert.equal(route_?.held.size, 0);
  });

  it('refuses beyond the hold bound with 503 and Retry-After, and holds no more', async () => {
    route('busy', []);
    const first = send(base, '/function/busy');
    const second = send(base, '/function/busy');
    await eventually(
      () => (routes.get('default', 'busy')?.held.size === 2 ? true : undefined),
      2000,
      'two held',
    );
    const third = await send(base, '/function/busy');
    assert.equal(third.status, 503);
    assert.equal(third.json().code, 'HoldQueueFull');
    assert.equal(third.headers['retry-after'], '1');
    routes.setEndpoints('default', 'busy', [
      { id: 'busy-0', host: '127.0.0.1', port: await serve(echoRequest) },
    ]);
    assert.deepEqual([(await first).status, (await second).status], [200, 200]);
  });

  it('lets a held request whose caller hung up leave the queue, so it never reaches a replica', async () => {
    route('abandoned', []);
    const controller = new AbortController();
    const gone = send(base, '/function/abandoned', { signal: controller.signal }).catch((err: Error) => err);
    const route_ = routes.get('default', 'abandoned');
    await eventually(() => (route_?.held.size === 1 ? true : undefined), 2000, 'the request to be held');
    controller.abort();
    assert.ok((await gone) instanceof Error);
    await eventually(
      () => (route_?.held.size === 0 ? true : undefined),
      2000,
      'the request to leave the queue',
    );
    assert.equal(clock.pending, 0, 'its wake timeout cleared');
    let reached = 0;
    const port = await serve((_req, res) => {
      reached++;
      res.end('ok');
    });
    routes.setEndpoints('default', 'abandoned', [{ id: 'a-0', host: '127.0.0.1', port }]);
    assert.equal((await send(base, '/function/abandoned')).status, 200);
    assert.equal(reached, 1, 'only the second request reached the replica');
  });

  it('answers a held request 404 when its function is removed meanwhile', async () => {
    route('vanishing', []);
    const pending = send(base, '/function/vanishing');
    await eventually(
      () => (routes.get('default', 'vanishing')?.held.size === 1 ? true : undefined),
      2000,
      'held',
    );
    routes.remove('default', 'vanishing');
    const reply = await pending;
    assert.equal(reply.status, 404);
  });

  it("times out from the function's own timeout with 504 JSON, and the replica sees the request cancelled", async () => {
    let cancelled = false;
    route(
      'stuck',
      [
        await serve((req) => {
          req.on('close', () => {
            cancelled = true;
          });
        }),
      ],
      { timeoutMs: 200 },
    );
    const started = Date.now();
    const reply = await send(base, '/function/stuck');
    const took = Date.now() - started;
    assert.equal(reply.status, 504);
    assert.equal(reply.json().code, 'FunctionTimeout');
    assert.ok(took >= 290 && took < 2000, `took ${took} ms; expected about 300 (200 + 100 grace)`);
    await eventually(() => (cancelled ? true : undefined), 2000, 'the upstream request to close');
  });

  it('cancels the replica request when the caller goes away', async () => {
    let cancelled = false;
    let arrived = false;
    route('slow', [
      await serve((req) => {
        arrived = true;
        req.on('close', () => {
          cancelled = true;
        });
      }),
    ]);
    const abort = new AbortController();
    const pending = send(base, '/function/slow', { signal: abort.signal }).catch((err: Error) => err);
    await eventually(() => (arrived ? true : undefined), 2000, 'the request to arrive');
    abort.abort();
    assert.ok((await pending) instanceof Error);
    await eventually(() => (cancelled ? true : undefined), 2000, 'the upstream request to close');
  });

  it('refuses a declared body over the limit with 413 before any replica sees it', async () => {
    let called = false;
    route('small', [
      await serve((_req, res) => {
        called = true;
        res.end();
      }),
    ]);
    const reply = await send(base, '/function/small', { method: 'POST', body: Buffer.alloc(64 * 1024 + 1) });
    assert.equal(reply.status, 413);
    assert.equal(reply.json().code, 'BodyTooLarge');
    assert.equal(called, false);
  });

  it('refuses a chunked body with 413 once it passes the limit', async () => {
    route('small', [await serve((req, res) => req.on('end', () => res.end('read it all')).resume())]);
    async function* body() {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(16 * 1024);
    }
    const reply = await send(base, '/function/small', { method: 'POST', body: body() }).catch(
      (err: Error) => err,
    );
    // The gateway may close while the client is still writing; either way no 200 gets through.
    if (reply instanceof Error) assert.match(reply.message, /EPIPE|ECONNRESET|socket hang up/);
    else {
      assert.equal(reply.status, 413);
      assert.equal(reply.json().code, 'BodyTooLarge');
    }
  });

  it('needs an invoke key for a function with http.auth: key, and does not pass the key on', async () => {
    route('private', [await serve(echoRequest)], { auth: 'key' });
    assert.equal((await send(base, '/function/private')).status, 401);
    assert.equal(
      (await send(base, '/function/private', { headers: { authorization: 'Bearer not-a-key-0000000' } }))
        .status,
      401,
    );
    const ok = await send(base, '/function/private', { headers: { authorization: `Bearer ${INVOKER}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json<{ headers: Record<string, string> }>().headers.authorization, undefined);
  });

  it('answers names that are not names with 400 JSON and unknown ones with 404 JSON', async () => {
    for (const path of [
      '/function/..',
      '/function/%2e%2e/x',
      '/function/a%2fb',
      '/function/UPPER',
      '/function/',
    ]) {
      const reply = await send(base, path);
      assert.equal(reply.status, 400, path);
      assert.equal(reply.json().code, 'InvalidFunctionName', path);
    }
    const missing = await send(base, '/function/missing.team');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error, 'function missing not found in namespace team');
    assert.equal((await send(base, '/nowhere')).json().code, 'RouteNotFound');
  });

  it('keeps /system and /metrics for admin keys, and counts requests in /metrics', async () => {
    route('echo', [await serve(echoRequest)]);
    await send(base, '/function/echo');
    await send(base, '/function/echo');
    assert.equal((await send(base, '/system/functions')).status, 401);
    assert.equal(
      (await send(base, '/system/functions', { headers: { authorization: `Bearer ${INVOKER}` } })).status,
      403,
    );
    const listed = await send(base, '/system/functions', { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json(), []);
    assert.equal((await send(base, '/metrics')).status, 401);
    const asInvoker = await send(base, '/metrics', { headers: { authorization: `Bearer ${INVOKER}` } });
    assert.deepEqual([asInvoker.status, asInvoker.json().code], [403, 'Forbidden']);
    const metrics = (await send(base, '/metrics', { headers: { authorization: `Bearer ${ADMIN}` } })).text;
    assert.match(metrics, /nimbus_gateway_requests_total\{function="default\/echo",code="200"\} 2/);
    assert.match(metrics, /nimbus_gateway_inflight_requests\{function="default\/echo"\} 0/);
    assert.equal((await send(base, '/healthz')).json().status, 'ok');
  });
});
