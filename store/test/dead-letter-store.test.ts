import { MemoryDeadLetterStore } from '../src/memory-dead-letter-store.js';
import { RedisDeadLetterStore } from '../src/redis-dead-letter-store.js';
import { describeDeadLetterStoreContract } from './contracts/dead-letter-store.contract.js';
import { FakeClock } from './fake-clock.js';
import { RedisClients, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeDeadLetterStoreContract('in memory', async () => {
  const clock = new FakeClock();
  const shared = new MemoryDeadLetterStore(clock);
  return {
    now: () => clock.now(),
    open: (limits) => (limits === undefined ? shared : new MemoryDeadLetterStore(clock, limits)),
    close: async () => {},
  };
});

describeDeadLetterStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  return {
    now: () => Date.now(),
    open: (limits) => new RedisDeadLetterStore(clients.connection(), { root, limits: limits ?? {} }),
    close: () => clients.closeAll(),
  };
});
