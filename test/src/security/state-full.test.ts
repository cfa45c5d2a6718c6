import assert from 'node:assert/strict';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import { type RedisServer, send, startRedisServer } from '@nimbus/testkit';
import type { RuntimeReplica } from '../harness/runtime-replica.js';
import { type StateGateway, fnResource, startStateGateway, startStateReplica } from './state-fixture.js';

/**
 * Redis set up as the chart runs it (maxmemory with noeviction, below the container's memory
 * limit) refuses writes when it is full instead of growing until it is OOM-killed and restarts
 * empty. A function that fills it gets a clear error; Redis, the gateway and other functions go on.
 */
describe('security: a full state store refuses writes clearly and keeps serving', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let admin: RedisStores;
  let gw: StateGateway;
  let filler: RuntimeReplica;
  let bystander: RuntimeReplica;
  const call = (replica: RuntimeReplica, path: string) =>
    send(`http://127.0.0.1:${replica.port}`, path, { timeoutMs: 30_000 });

  before(async () => {
    redis = await startRedisServer({ args: ['--maxmemory', '6mb', '--maxmemory-policy', 'noeviction'] });
    admin = createRedisStores(redis.url);
    gw = await startStateGateway(redis.url, [
      // A quota far above what this Redis holds: the store fills before the quota does.
      fnResource('filler', { enabled: true, maxBytes: 1024 * 1024 * 1024 }),
      fnResource('bystander', { enabled: true }),
    ]);
    [filler, bystander] = await Promise.all([
      startStateReplica(gw.stateUrl, 'filler'),
      startStateReplica(gw.stateUrl, 'bystander'),
    ]);
  });
  after(async () => {
    await Promise.all([filler?.stop(), bystander?.stop()]);
    await gw?.close();
    await admin?.close();
    await redis?.stop();
  });

  it('answers 507 "state store is full" once Redis is at maxmemory, and Redis, the gateway and other functions keep working', async () => {
    assert.deepEqual((await call(bystander, '/incr?key=visits')).json(), { value: 1 });
    let full: { status: number; json(): Record<string, unknown> } | undefined;
    let written = 0;
    for (let i = 0; i < 400 && full === undefined; i++) {
      const reply = await call(filler, `/set?key=k${i}&size=60000`);
      if (reply.status === 200) written++;
      else full = reply;
    }
    assert.ok(full !== undefined, `Redis took ${written} values of 60 KB without refusing`);
    assert.equal(full.status, 507, JSON.stringify(full.json()));
    assert.equal(full.json().code, 'StateStoreFull');
    assert.match(
      String(full.json().error),
      /the state store is full \(Redis is at its maxmemory and refuses writes\)/,
    );
    assert.ok(written > 10, `${written} values went in first`);

    // Still up, not restarted: the data is there, reads and deletes work, others are served.
    assert.equal(await admin.connection.run('ping', (c) => c.ping()), 'PONG');
    assert.deepEqual((await call(bystander, '/get?key=visits')).json(), { value: 1 });
    assert.equal((await call(filler, '/get?key=k0')).status, 200);
    assert.deepEqual((await call(filler, '/ping')).json(), { pong: true });
    assert.equal((await send(gw.publicUrl, '/healthz')).status, 200);
    const maxmemory = await admin.connection.run('info', (c) => c.info('memory'));
    assert.match(maxmemory, /maxmemory_policy:noeviction/);

    // Deleting makes room again.
    for (let i = 0; i < 20; i++) assert.equal((await call(filler, `/delete?key=k${i}`)).status, 200);
    assert.deepEqual((await call(bystander, '/incr?key=visits')).json(), { value: 2 });
  });
});
