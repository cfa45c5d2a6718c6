import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { stateErrorStatus } from '@nimbus/store';
import { isStateOperation } from '../src/state/state-request.js';
import { readStateServiceConfig } from '../src/state/state-service-config.js';

describe('state service settings (NIMBUS_STATE_PORT, NIMBUS_STATE_KEY)', () => {
  const key = 'k'.repeat(32);

  it('are off without a port, whatever else is set', () => {
    assert.equal(readStateServiceConfig({}), undefined);
    assert.equal(readStateServiceConfig({ NIMBUS_STATE_KEY: key }), undefined);
  });

  it('take the port, the key and a host that defaults to every address', () => {
    assert.deepEqual(readStateServiceConfig({ NIMBUS_STATE_PORT: '8081', NIMBUS_STATE_KEY: key }), {
      host: '0.0.0.0',
      port: 8081,
      key,
    });
    assert.equal(
      readStateServiceConfig({
        NIMBUS_STATE_PORT: '0',
        NIMBUS_STATE_KEY: key,
        NIMBUS_STATE_HOST: '127.0.0.1',
      })?.host,
      '127.0.0.1',
    );
  });

  const bad: [string, Record<string, string>, string][] = [
    ['a port without a key', { NIMBUS_STATE_PORT: '8081' }, 'NIMBUS_STATE_KEY'],
    [
      'a key under 32 characters',
      { NIMBUS_STATE_PORT: '8081', NIMBUS_STATE_KEY: 'short' },
      'NIMBUS_STATE_KEY',
    ],
    ['a port out of range', { NIMBUS_STATE_PORT: '70000', NIMBUS_STATE_KEY: key }, 'NIMBUS_STATE_PORT'],
  ];
  for (const [what, env, name] of bad)
    it(`refuse ${what}, naming ${name}`, () => {
      assert.throws(
        () => readStateServiceConfig(env),
        (err: unknown) => err instanceof ConfigError && err.key === name && !err.message.includes('short'),
      );
    });
});

describe('state service operations and statuses', () => {
  it('know the five operations of ctx.state and nothing else', () => {
    for (const op of ['get', 'set', 'delete', 'incr', 'compareAndSet']) assert.ok(isStateOperation(op), op);
    for (const op of ['eval', 'evalsha', 'fcall', 'keys', 'clear', 'constructor', '__proto__'])
      assert.equal(isStateOperation(op), false, op);
  });

  const statuses: [string, number][] = [
    ['InvalidStateKeyError', 400],
    ['InvalidStateValueError', 400],
    ['InvalidStoreInputError', 400],
    ['StateNotAnIntegerError', 409],
    ['StateValueTooLargeError', 413],
    ['StateQuotaExceededError', 507],
    ['StateStoreFullError', 507],
    ['StateUnavailableError', 503],
    ['StoreCommandError', 500],
    ['TypeError', 500],
  ];
  for (const [name, status] of statuses)
    it(`answers ${name} with ${status}`, () => assert.equal(stateErrorStatus(name), status));
});
