import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type RedisServer, type Reply, send, startRedisServer } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/** ctx.state on HTTP, and what of Redis a replica can see in its own environment. */
const PROBE = `export default async (event, ctx) => {
  const q = event.query;
  switch (event.path) {
    case '/env': return { redis: Object.entries(process.env).filter(([k, v]) => /REDIS/.test(k) || /redis:/.test(v ?? '')).map(([k]) => k) };
    case '/set': return { version: await ctx.state.set(q.key, 'x'.repeat(Number(q.size ?? 1))) };
    case '/incr': return { value: await ctx.state.incr(q.key) };
    case '/raw-set': {
      // What hostile code can do: skip ctx.state's own checks and write to the supervisor channel.
      const id = 2 ** 30;
      const reply = new Promise((resolve) => {
        const onMessage = (m) => {
          if (m?.type === 'state-result' && m.id === id) { process.off('message', onMessage); resolve(m); }
        };
        process.on('message', onMessage);
      });
      process.send({ type: 'state', id, op: 'set', key: q.key, value: 'x'.repeat(Number(q.size)) });
      return reply;
    }
  }
  return { statusCode: 404, body: 'no such route' };
};`;

/**
 * Local mode with a Redis: replicas still get no Redis URL or password. They ask the supervisor
 * over IPC, which holds the store and enforces the same value size and quotas as the gateway's
 * state service (the same code in @nimbus/store).
 */
describe('security: local mode replicas reach state only through the supervisor, within their limits', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let platform: LocalModeProcess;
  let dir: string;
  const call = (path: string): Promise<Reply> => send(platform.url, path, { timeoutMs: 30_000 });

  before(async () => {
    redis = await startRedisServer();
    dir = await functionsFolder({
      'small.yaml': inlineFunction('small', PROBE, 'state: { enabled: true, maxKeys: 2 }'),
      'roomy.yaml': inlineFunction('roomy', PROBE, 'state: { enabled: true }'),
    });
    platform = await LocalModeProcess.start(dir, { NIMBUS_REDIS_URL: redis.url });
  });
  after(async () => {
    assert.equal(await platform?.stop(), 0);
    await rm(dir, { recursive: true, force: true });
    await redis?.stop();
  });

  it('gives a replica no Redis URL or credentials, though local mode has a Redis', async () => {
    assert.deepEqual((await call('/function/small/env')).json(), { redis: [] });
  });

  it("enforces the function's key quota and the value limit in the supervisor", async () => {
    assert.equal((await call('/function/small/incr?key=a')).status, 200);
    assert.equal((await call('/function/small/incr?key=b')).status, 200);
    const refused = await call('/function/small/incr?key=c');
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.json().code, 'StateQuotaExceeded');
    assert.match(
      String(refused.json().error),
      /quota maxKeys is reached: this write would make 3 keys, the limit is 2/,
    );
    assert.deepEqual(
      (await call('/function/roomy/incr?key=c')).json(),
      { value: 1 },
      'another function is not held',
    );

    // ctx.state refuses it in the replica, before the transfer...
    const big = await call(`/function/roomy/set?key=big&size=${20 * 1024 * 1024}`);
    assert.equal(big.status, 413, big.text.slice(0, 200));
    assert.equal(big.json().code, 'StateValueTooLarge');
    assert.equal(big.json().limit, 65536);
    // ...and code that writes to the channel itself meets the supervisor's own check.
    const raw = await call('/function/roomy/raw-set?key=big&size=70000');
    assert.equal(raw.status, 200, raw.text.slice(0, 200));
    const reply = raw.json() as { ok: boolean; error?: { name: string; limit?: number } };
    assert.equal(reply.ok, false);
    assert.equal(reply.error?.name, 'StateValueTooLargeError');
    assert.equal(reply.error?.limit, 65536);
    const small = await call('/function/roomy/raw-set?key=fits&size=10');
    assert.equal((small.json() as { ok: boolean }).ok, true, 'the channel itself works');
  });
});
