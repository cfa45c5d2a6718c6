import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
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
