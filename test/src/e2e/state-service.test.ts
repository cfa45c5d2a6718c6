import assert from 'node:assert/strict';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import { type RedisServer, type Reply, eventually, send, startRedisServer } from '@nimbus/testkit';
import type { RuntimeReplica } from '../harness/runtime-replica.js';
import {
  type StateGateway,
  fnResource,
  startStateGateway,
  startStateReplica,
} from '../security/state-fixture.js';

/**
 * ctx.state in a cluster's shape, with real processes: a runtime replica holding only its token,
 * the gateway's state service, and Redis behind it. (The replica runs the fixture's handler: ctx.state
 * on HTTP.)
 */
describe('ctx.state through the gateway state service', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let admin: RedisStores;
  let gw: StateGateway;
  let replica: RuntimeReplica;
  const call = (path: string): Promise<Reply> =>
    send(`http://127.0.0.1:${replica.port}`, path, { timeoutMs: 10_000 });
  const stored = (key: string) =>
    admin.connection.run('hgetall', (c) => c.hgetall(`nimbus:state:team:counter:${key}`));

  before(async () => {
    redis = await startRedisServer();
    admin = createRedisStores(redis.url);
    gw = await startStateGateway(redis.url, [fnResource('counter', { enabled: true })]);
    replica = await startStateReplica(gw.stateUrl, 'counter');
  });
  after(async () => {
    await replica?.stop();
    await gw?.close();
    await admin?.close();
    await redis?.stop();
  });

  it('sets, gets, deletes and increments in the function key space', async () => {
    const set = await call('/set?key=greeting&size=3');
    assert.equal(set.status, 200, set.text);
    assert.deepEqual((await call('/get?key=greeting')).json(), { value: 'xxx' });
    const raw = await stored('greeting');
    assert.equal(raw.v, '"xxx"', 'under the prefix of team/counter');
    assert.equal(raw.ver, set.json<{ version: string }>().version);
    assert.deepEqual((await call('/delete?key=greeting')).json(), { deleted: true });
    assert.deepEqual((await call('/delete?key=greeting')).json(), { deleted: false });
    assert.deepEqual((await call('/get?key=greeting')).json(), { value: null });
  });

  it('sums increments from concurrent requests exactly', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, () => call('/incr?key=concurrent')));
    assert.ok(replies.every((r) => r.status === 200));
    const values = replies.map((r) => r.json<{ value: number }>().value).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(await admin.state.usage('team', 'counter'), { keys: 1, bytes: 'concurrent'.length + 2 });
  });

  it('answers 400 for a bad key, and 409 for incr on a value that is not an integer', async () => {
    const bad = await call(`/get?key=${'k'.repeat(600)}`);
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json().code, 'InvalidStateKey');
    assert.match(String(bad.json().error), /at most 512 bytes/);
    await call('/set?key=word&size=5');
    const notInteger = await call('/incr?key=word');
    assert.equal(notInteger.status, 409);
    assert.equal(notInteger.json().code, 'StateNotAnInteger');
  });

  it('fails state calls with 503 while Redis is down, keeps serving the rest, and recovers without a restart', async () => {
    await redis.stop();
    const started = Date.now();
    const down = await call('/incr?key=outage');
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json().code, 'StateUnavailable');
    assert.match(String(down.json().error), /Redis is unavailable/);
    assert.ok(Date.now() - started < 2500, `answered in ${Date.now() - started} ms`);
    assert.deepEqual((await call('/ping')).json(), { pong: true });
    await redis.start();
    const back = await eventually(
      async () => {
        const reply = await call('/incr?key=outage');
        return reply.status === 200 ? reply.json<{ value: number }>().value : undefined;
      },
      15_000,
      'state calls to work again',
    );
    assert.equal(back, 1);
  });

  it('fails state calls with 503 while the state service is away, and says so', async () => {
    await gw.close();
    const down = await call('/get?key=k');
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json().code, 'StateUnavailable');
    assert.match(String(down.json().error), /the state service is unavailable/);
    assert.deepEqual((await call('/ping')).json(), { pong: true });
  });
});
