import { ManualClock } from '@nimbus/testkit';
import { MemoryRateLimitStore } from '../src/memory/rate-limit-store.js';
import { RedisRateLimitStore } from '../src/redis/rate-limit-store.js';
import { describeRateLimitStoreContract } from './contracts/rate-limit-store.contract.js';
import { RedisClients, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeRateLimitStoreContract('in memory', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const shared = new MemoryRateLimitStore(clock);
  return { clock, open: () => shared, close: async () => {} };
});

describeRateLimitStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  return {
    open: () => new RedisRateLimitStore(clients.connection(), { root }),
    close: () => clients.closeAll(),
  };
});
