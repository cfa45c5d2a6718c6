import assert from 'node:assert/strict';
import { ManualClock, type RedisServer, startRedisServer } from '@nimbus/testkit';
import { StateStoreFullError } from '../src/errors.js';
import { stateKeyPrefix } from '../src/keys.js';
import { MemoryStateStore } from '../src/memory/state-store.js';
import { RedisStateStore } from '../src/redis/state-store.js';
import { describeStateStoreContract } from './contracts/state-store.contract.js';
import { RedisClients, pttl, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeStateStoreContract('in memory', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const shared = new MemoryStateStore(clock);
  return {
    clock,
    open: (limits) => (limits === undefined ? shared : new MemoryStateStore(clock, limits)),
    ttlOf: async (ns, fn, key) => shared.remainingTtl(ns, fn, key),
    close: async () => {},
  };
});

describeStateStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  const raw = clients.raw();
  return {
    open: (limits) => new RedisStateStore(clients.connection(), { root, limits: limits ?? {} }),
    ttlOf: (ns, fn, key) => pttl(raw, stateKeyPrefix(ns, fn, root) + key),
    close: () => clients.closeAll(),
  };
});

describe('RedisStateStore key layout', () => {
  let clients: RedisClients;
  beforeEach(async () => {
    clients = new RedisClients((await sharedRedis()).url);
  });
  afterEach(() => clients.closeAll());

  it('keeps a key as a hash { v, ver } under nimbus:state:<namespace>:<function>:', async () => {
    const store = new RedisStateStore(clients.connection());
    const version = await store.scoped('team-a', 'hello').set('greeting:en', { text: 'hi' });
    const raw = clients.raw();
    try {
      assert.equal(stateKeyPrefix('team-a', 'hello'), 'nimbus:state:team-a:hello:');
      assert.deepEqual(await raw.hgetall('nimbus:state:team-a:hello:greeting:en'), {
        v: '{"text":"hi"}',
        ver: version,
      });
    } finally {
      await store.clear('team-a', 'hello');
    }
  });
});

// Redis at maxmemory with noeviction (as the chart runs it) refuses writes instead of being
// OOM-killed: the adapter says so clearly, writes nothing, and still reads and deletes.
describe('RedisStateStore at maxmemory', () => {
  let server: RedisServer;
  let clients: RedisClients;
  before(async () => {
    server = await startRedisServer({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] });
  });
  after(() => server.stop());
  beforeEach(() => {
    clients = new RedisClients(server.url);
  });
  afterEach(() => clients.closeAll());

  it('refuses writes with StateStoreFullError and keeps reads and deletes working', async () => {
    const store = new RedisStateStore(clients.connection(), { limits: { maxBytes: 1024 * 1024 * 1024 } });
    const s = store.scoped('team-a', 'filler');
    await s.set('first', 'kept');
    let full: unknown;
    for (let i = 0; i < 500 && full === undefined; i++)
      await s.set(`k${i}`, 'x'.repeat(60_000)).catch((err: unknown) => {
        full = err;
      });
    assert.ok(full instanceof StateStoreFullError, `expected StateStoreFullError, got ${String(full)}`);
    assert.match(full.message, /state store is full/);
    await assert.rejects(s.compareAndSet('another', null, 'y'.repeat(60_000)), StateStoreFullError);
    assert.equal(await s.get('another'), undefined);
    assert.equal((await s.get('first'))?.value, 'kept');
    assert.equal(await s.delete('k0'), true);
    const usage = await store.usage('team-a', 'filler');
    assert.ok(usage.keys > 1, `usage ${JSON.stringify(usage)}`);
  });
});
