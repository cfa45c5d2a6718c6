import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { parseStoreConfig } from '../src/config.js';

describe('parseStoreConfig', () => {
  it('has defaults for everything and no Redis URL', () => {
    assert.deepEqual(parseStoreConfig({}), {
      redisUrl: undefined,
      commandTimeoutMs: 1_000,
      state: { maxValueBytes: 65_536, maxKeys: 10_000, maxBytes: 16_777_216 },
      calls: { ttlMs: 86_400_000, maxResultBodyBytes: 1_048_576 },
      deadLetters: { retentionMs: 604_800_000, maxBodyBytes: 65_536, maxPerFunction: 200 },
    });
  });

  it('reads every setting', () => {
    const config = parseStoreConfig({
      NIMBUS_REDIS_URL: 'rediss://user:pw@redis.nimbus.svc:6380/0',
      NIMBUS_REDIS_COMMAND_TIMEOUT_MS: '250',
      NIMBUS_STATE_MAX_VALUE_BYTES: '1024',
      NIMBUS_STATE_MAX_KEYS: '50',
      NIMBUS_STATE_MAX_BYTES: '2048',
      NIMBUS_CALL_TTL_SECONDS: '3600',
      NIMBUS_CALL_MAX_RESULT_BYTES: '0',
      NIMBUS_DEAD_LETTER_RETENTION_SECONDS: '86400',
      NIMBUS_DEAD_LETTER_MAX_BODY_BYTES: '0',
      NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION: '5',
    });
    assert.equal(config.redisUrl, 'rediss://user:pw@redis.nimbus.svc:6380/0');
    assert.equal(config.commandTimeoutMs, 250);
    assert.deepEqual(config.state, { maxValueBytes: 1024, maxKeys: 50, maxBytes: 2048 });
    assert.equal(config.calls.ttlMs, 3_600_000);
    assert.equal(config.calls.maxResultBodyBytes, 0);
    assert.equal(config.deadLetters.retentionMs, 86_400_000);
    assert.equal(config.deadLetters.maxBodyBytes, 0);
    assert.equal(config.deadLetters.maxPerFunction, 5);
  });

  it('is frozen all the way down', () => {
    const config = parseStoreConfig({});
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.state) && Object.isFrozen(config.calls));
  });

  it('treats an empty URL as unset', () => {
    assert.equal(parseStoreConfig({ NIMBUS_REDIS_URL: '' }).redisUrl, undefined);
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['a URL that is not redis://', { NIMBUS_REDIS_URL: 'http://redis:6379' }, /NIMBUS_REDIS_URL/],
    [
      'a timeout below 10 ms',
      { NIMBUS_REDIS_COMMAND_TIMEOUT_MS: '5' },
      /NIMBUS_REDIS_COMMAND_TIMEOUT_MS.*10 to 60000/,
    ],
    ['a hex number', { NIMBUS_STATE_MAX_VALUE_BYTES: '0x10' }, /NIMBUS_STATE_MAX_VALUE_BYTES/],
    ['a value limit of 0', { NIMBUS_STATE_MAX_VALUE_BYTES: '0' }, /NIMBUS_STATE_MAX_VALUE_BYTES.*1 to/],
    ['a key quota of 0', { NIMBUS_STATE_MAX_KEYS: '0' }, /NIMBUS_STATE_MAX_KEYS.*1 to/],
    ['a byte quota under 1 KiB', { NIMBUS_STATE_MAX_BYTES: '100' }, /NIMBUS_STATE_MAX_BYTES.*1024 to/],
    ['a call TTL under a minute', { NIMBUS_CALL_TTL_SECONDS: '59' }, /NIMBUS_CALL_TTL_SECONDS/],
    ['a negative body limit', { NIMBUS_CALL_MAX_RESULT_BYTES: '-1' }, /NIMBUS_CALL_MAX_RESULT_BYTES/],
    [
      'a retention with a unit',
      { NIMBUS_DEAD_LETTER_RETENTION_SECONDS: '7d' },
      /NIMBUS_DEAD_LETTER_RETENTION_SECONDS/,
    ],
    [
      'no room for any dead letter',
      { NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION: '0' },
      /NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION.*1 to/,
    ],
    [
      'a dead-letter body limit in KiB',
      { NIMBUS_DEAD_LETTER_MAX_BODY_BYTES: '64k' },
      /NIMBUS_DEAD_LETTER_MAX_BODY_BYTES/,
    ],
  ];
  for (const [what, env, message] of refused) {
    it(`refuses ${what}, naming the variable`, () => {
      assert.throws(
        () => parseStoreConfig(env),
        (err: unknown) => err instanceof ConfigError && message.test(err.message) && err.key in env,
      );
    });
  }
});
