import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import { type RedisServer, type Reply, eventually, send, startRedisServer } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

/** ctx.state on HTTP, answering with the replica's pid; `?hold=ms` keeps a request in flight. */
const COUNTER = `export default async (event, ctx) => {
  const q = event.query;
  if (q.hold) await new Promise((resolve) => setTimeout(resolve, Number(q.hold)));
  const s = ctx.state;
  switch (event.path) {
    case '/pid': return { pid: process.pid };
    case '/set': return { pid: process.pid, version: await s.set(q.key, event.body) };
    case '/get': return { pid: process.pid, value: (await s.get(q.key)) ?? null };
    case '/incr': return { pid: process.pid, value: await s.incr(q.key) };
  }
  return { statusCode: 404, body: 'no such route' };
};`;

const FIXTURES = {
  'counter.yaml': inlineFunction('counter', COUNTER, 'state: { enabled: true }\nscale: { min: 2, max: 2 }'),
  'other.yaml': inlineFunction('other', COUNTER, 'state: { enabled: true }'),
  'stateless.yaml': inlineFunction('stateless', COUNTER),
};

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function readyReplicas(platform: LocalModeProcess, name: string): Promise<number> {
  const reply = await send(platform.url, `/system/functions/${name}`, { headers: admin });
  return reply.json<{ status: { readyReplicas: number } }>().status.readyReplicas;
}

/** The suite for one place local mode keeps state; `inspect` looks at the stored key when it can. */
function sharedStateSuite(
  title: string,
  env: () => Promise<Record<string, string>>,
  redis?: { stored: (key: string) => Promise<string | null>; server: () => RedisServer },
) {
  describe(title, function () {
    this.timeout(60_000);
    let platform: LocalModeProcess;
    let dir: string;
    const call = (path: string, options = {}): Promise<Reply> => send(platform.url, path, options);
    const pidsOf = (replies: Reply[]) => new Set(replies.map((r) => r.json<{ pid: number }>().pid));

    before(async () => {
      dir = await functionsFolder(FIXTURES);
      platform = await LocalModeProcess.start(dir, await env());
      await eventually(
        async () => ((await readyReplicas(platform, 'counter')) === 2 ? true : undefined),
        20_000,
        'two ready replicas of counter',
      );
    });
    after(async () => {
      assert.equal(await platform?.stop(), 0);
      await rm(dir, { recursive: true, force: true });
    });

    it("lets every replica of a function see the others' writes", async () => {
      const set = await call('/function/counter/set?key=greeting', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'hello' }),
      });
      assert.equal(set.status, 200, set.text);
      // Held in flight together, so the gateway spreads them over both replicas.
      const reads = await Promise.all(
        Array.from({ length: 8 }, () => call('/function/counter/get?key=greeting&hold=150')),
      );
      assert.ok(reads.every((r) => r.status === 200));
      assert.equal(pidsOf(reads).size, 2, 'both replicas answered');
      for (const read of reads) assert.deepEqual(read.json<{ value: unknown }>().value, { text: 'hello' });
      if (redis) assert.equal(await redis.stored('greeting'), '{"text":"hello"}');
    });

    it('sums increments from concurrent requests on both replicas exactly', async () => {
      const replies = await Promise.all(
        Array.from({ length: 60 }, () => call('/function/counter/incr?key=hits&hold=20')),
      );
      assert.ok(
        replies.every((r) => r.status === 200),
        replies.map((r) => r.status).join(','),
      );
      assert.equal(pidsOf(replies).size, 2, 'both replicas incremented');
      const values = replies.map((r) => r.json<{ value: number }>().value).sort((a, b) => a - b);
      assert.deepEqual(
        values,
        Array.from({ length: 60 }, (_, i) => i + 1),
        'each increment counted once',
      );
      assert.equal((await call('/function/counter/get?key=hits')).json<{ value: number }>().value, 60);
    });

    it('keeps functions apart: the same key in another function is its own', async () => {
      // A key of this case's own, so no other case's counts are needed or disturbed.
      for (let n = 1; n <= 3; n++)
        assert.equal((await call('/function/counter/incr?key=apart')).json<{ value: number }>().value, n);
      assert.equal((await call('/function/other/get?key=apart')).json<{ value: unknown }>().value, null);
      assert.equal((await call('/function/other/incr?key=apart')).json<{ value: number }>().value, 1);
      assert.equal((await call('/function/counter/get?key=apart')).json<{ value: number }>().value, 3);
    });

    it('answers 413 naming the limit for a value too large, and 500 for a function without state', async () => {
      const big = await call('/function/counter/set?key=big', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify('x'.repeat(70_000)),
      });
      assert.equal(big.status, 413, big.text);
      assert.equal(big.json().code, 'StateValueTooLarge');
      assert.equal(big.json().limit, 65536);
      const off = await call('/function/stateless/get?key=k');
      assert.equal(off.status, 500);
      assert.equal(off.json().code, 'StateNotEnabled');
    });

    if (redis)
      it('fails state calls with 503 while Redis is down, serves the rest, and recovers without a restart', async () => {
        const server = redis.server();
        const replicas = async () =>
          pidsOf(await Promise.all(Array.from({ length: 8 }, () => call('/function/counter/pid?hold=150'))));
        const before = await replicas();
        assert.equal(before.size, 2);
        await server.stop();
        const down = await call('/function/counter/incr?key=outage');
        assert.equal(down.status, 503, down.text);
        assert.equal(down.json().code, 'StateUnavailable');
        assert.match(String(down.json().error), /Redis is unavailable/);
        assert.deepEqual(await replicas(), before, 'calls without state are served by the same replicas');
        assert.equal((await call('/function/stateless/pid')).status, 200);
        await server.start();
        const back = await eventually(
          async () => {
            const reply = await call('/function/counter/incr?key=outage');
            return reply.status === 200 ? reply.json<{ value: number }>().value : undefined;
          },
          15_000,
          'state calls to work again',
        );
        assert.equal(back, 1, 'an empty Redis: the count starts again');
        assert.deepEqual(await replicas(), before, 'no replica was restarted');
      });
  });
}

describe('local mode: function state', () => {
  sharedStateSuite('in the supervisor, without Redis', async () => ({}));

  let server: RedisServer;
  let stores: RedisStores;
  before(async () => {
    server = await startRedisServer();
    stores = createRedisStores(server.url);
  });
  after(async () => {
    await stores?.close();
    await server?.stop();
  });
  sharedStateSuite('in Redis, with NIMBUS_REDIS_URL', async () => ({ NIMBUS_REDIS_URL: server.url }), {
    stored: (key) => stores.connection.run('hget', (c) => c.hget(`nimbus:state:default:counter:${key}`, 'v')),
    server: () => server,
  });
});
