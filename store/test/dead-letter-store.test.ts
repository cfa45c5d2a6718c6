import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import type { Redis } from 'ioredis';
import { deadLetterEntryKey, deadLetterIndexKey } from '../src/keys.js';
import { MemoryDeadLetterStore } from '../src/memory/dead-letter-store.js';
import { RedisDeadLetterStore } from '../src/redis/dead-letter-store.js';
import { describeDeadLetterStoreContract } from './contracts/dead-letter-store.contract.js';
import { RedisClients, sharedRedis, uniqueRoot } from './redis-fixture.js';

describeDeadLetterStoreContract('in memory', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
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

describe('RedisDeadLetterStore indexes', () => {
  let clients: RedisClients;
  let root: string;
  beforeEach(async () => {
    clients = new RedisClients((await sharedRedis()).url);
    root = uniqueRoot();
  });
  afterEach(() => clients.closeAll());

  const letter = (id: string, failedAt: number) => ({
    id,
    namespace: 'team-a',
    function: 'resize',
    reason: 'max-deliver',
    lastError: 'boom',
    attempts: 3,
    request: { headers: {}, body: '' },
    failedAt,
  });
  const indexSizes = (raw: Redis) =>
    Promise.all(
      [
        deadLetterIndexKey(root),
        deadLetterIndexKey(root, 'team-a'),
        deadLetterIndexKey(root, 'team-a', 'resize'),
      ].map((key) => raw.zcard(key)),
    );

  it('prunes members past the retention from the indexes it adds to', async () => {
    const dlq = new RedisDeadLetterStore(clients.connection(), { root, limits: { retentionMs: 60_000 } });
    const raw = clients.raw();
    await dlq.add(letter('old', Date.now() - 120_000));
    await dlq.add(letter('new', Date.now()));
    assert.deepEqual(await indexSizes(raw), [1, 1, 1]);
  });

  it('drops a member whose entry has expired when a listing meets it', async () => {
    const dlq = new RedisDeadLetterStore(clients.connection(), { root });
    const raw = clients.raw();
    await dlq.add(letter('a', Date.now()));
    await dlq.add(letter('b', Date.now() - 1));
    await raw.del(deadLetterEntryKey(root, 'b')); // as if Redis had expired it
    assert.deepEqual(await indexSizes(raw), [2, 2, 2]);
    assert.deepEqual(
      (await dlq.list()).entries.map((e) => e.id),
      ['a'],
    );
    assert.deepEqual(await indexSizes(raw), [1, 2, 2], 'the listing cleaned the index it read');
  });
});
