import { MemoryCheckpointStore } from '../src/memory/checkpoint-store.js';
import { RedisCheckpointStore } from '../src/redis/checkpoint-store.js';
import { describeCheckpointStoreContract } from './contracts/checkpoint-store.contract.js';
import { RedisClients, sharedRedis, uniqueRoot } from './redis-fixture.js';

const maxFields = 3_000;

describeCheckpointStoreContract('in memory', async () => {
  const shared = new MemoryCheckpointStore({ maxFields });
  return { maxFields, open: () => shared, close: async () => {} };
});

describeCheckpointStoreContract('Redis', async () => {
  const clients = new RedisClients((await sharedRedis()).url);
  const root = uniqueRoot();
  return {
    maxFields,
    open: () => new RedisCheckpointStore(clients.connection(), { root, limits: { maxFields } }),
    close: () => clients.closeAll(),
  };
});
