import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { parseStoreConfig } from '../src/config.js';
import { MemoryStateStore } from '../src/memory/state-store.js';
import { RedisStateStore } from '../src/redis/state-store.js';
import { createStores, redactUrl } from '../src/stores.js';
import { sharedRedis } from './redis-fixture.js';

class Lines {
  readonly lines: string[] = [];
  info(msg: string, fields?: Record<string, unknown>): void {
    this.lines.push(`${msg} ${JSON.stringify(fields ?? {})}`);
  }
  warn(msg: string): void {
    this.lines.push(`WARN ${msg}`);
  }
}

describe('createStores', () => {
  it('uses the in-memory stand-ins without a Redis URL, and says so', async () => {
    const logger = new Lines();
    const clock = new ManualClock(Date.UTC(2025, 0, 1));
    const stores = createStores(parseStoreConfig({ NIMBUS_STATE_MAX_VALUE_BYTES: '10' }), { logger, clock });
    assert.equal(stores.kind, 'memory');
    assert.ok(stores.state instanceof MemoryStateStore);
    assert.match(logger.lines[0] ?? '', /in memory/);
    await assert.rejects(
      stores.state.scoped('a', 'b').set('k', 'x'.repeat(20)),
      /over the limit of 10 bytes/,
    );
    assert.equal(await stores.claims.claim('k', 'me', 1_000), true);
    clock.advance(1_000);
    assert.equal(await stores.claims.claim('k', 'you', 1_000), true, 'the claim expired on the given clock');
    await stores.close();
  });

  it('uses Redis when a URL is given, logging it without its password', async () => {
    const logger = new Lines();
    const url = (await sharedRedis()).url.replace('redis://', 'redis://:secret-pw@');
    const stores = createStores(parseStoreConfig({ NIMBUS_REDIS_URL: url }), { logger });
    try {
      assert.equal(stores.kind, 'redis');
      assert.ok(stores.state instanceof RedisStateStore);
      assert.doesNotMatch(logger.lines.join('\n'), /secret-pw/);
      assert.match(logger.lines.join('\n'), /in Redis/);
    } finally {
      await stores.close();
    }
  });

  it('redacts only the password of a URL', () => {
    assert.equal(redactUrl('redis://user:pw@host:6379/1'), 'redis://user:***@host:6379/1');
    assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  });
});
