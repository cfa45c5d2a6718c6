import { ManualClock } from '@nimbus/testkit';
import { MemoryClaimStore } from '../src/memory/claim-store.js';
import { RedisClaimStore } from '../src/redis/claim-store.js';
import { describeClaimStoreContract } from './contracts/claim-store.contract.js';
import { RedisClients, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeClaimStoreContract('in memory', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const shared = new MemoryClaimStore(clock);
  return { clock, open: () => shared, close: async () => {} };
});

describeClaimStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  return {
    open: () => new RedisClaimStore(clients.connection(), { root }),
    close: () => clients.closeAll(),
  };
});
