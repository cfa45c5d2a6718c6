import { ManualClock } from '@nimbus/testkit';
import { callKey } from '../src/keys.js';
import { MemoryCallStore } from '../src/memory/call-store.js';
import { RedisCallStore } from '../src/redis/call-store.js';
import { describeCallStoreContract } from './contracts/call-store.contract.js';
import { RedisClients, pttl, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeCallStoreContract('in memory', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const shared = new MemoryCallStore(clock);
  return {
    clock,
    open: (limits) => (limits === undefined ? shared : new MemoryCallStore(clock, limits)),
    ttlOf: async (id) => shared.remainingTtl(id),
    age: async (_id, ms) => clock.advance(ms),
    close: async () => {},
  };
});

describeCallStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  const raw = clients.raw();
  return {
    open: (limits) => new RedisCallStore(clients.connection(), { root, limits: limits ?? {} }),
    ttlOf: (id) => pttl(raw, callKey(root, id)),
    age: async (id, ms) => {
      const left = await raw.pttl(callKey(root, id));
      await raw.pexpire(callKey(root, id), left - ms);
    },
    close: () => clients.closeAll(),
  };
});
