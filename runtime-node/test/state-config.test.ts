import assert from 'node:assert/strict';
import { ConfigError, loadFunctionConfig } from '../src/config.js';

describe('state settings (NIMBUS_STATE_*)', () => {
  const state = (env: Record<string, string>) => loadFunctionConfig(env).state;

  it('are off without a backend or a URL', () => {
    assert.deepEqual(state({}), { backend: 'none' });
    assert.deepEqual(state({ NIMBUS_STATE_BACKEND: 'none' }), { backend: 'none' });
  });

  it('choose Redis when a URL is given, with the login and limits from the environment', () => {
    assert.deepEqual(
      state({
        NIMBUS_STATE_REDIS_URL: 'redis://redis.nimbus.svc:6379',
        NIMBUS_STATE_REDIS_USERNAME: 'nimbus-fn:team:counter',
        NIMBUS_STATE_REDIS_PASSWORD_FILE: '/var/nimbus/state/password',
        NIMBUS_STATE_TIMEOUT_MS: '250',
        NIMBUS_STATE_MAX_VALUE_BYTES: '1024',
      }),
      {
        backend: 'redis',
        url: 'redis://redis.nimbus.svc:6379',
        username: 'nimbus-fn:team:counter',
        password: undefined,
        passwordFile: '/var/nimbus/state/password',
        timeoutMs: 250,
        maxValueBytes: 1024,
      },
    );
  });

  it('take a URL with its own credentials and database, and default the timeout and the limit', () => {
    assert.deepEqual(
      state({ NIMBUS_STATE_BACKEND: 'REDIS', NIMBUS_STATE_REDIS_URL: 'rediss://:pw@r:6380/2' }),
      {
        backend: 'redis',
        url: 'rediss://:pw@r:6380/2',
        username: undefined,
        password: undefined,
        passwordFile: undefined,
        timeoutMs: 1000,
        maxValueBytes: 65536,
      },
    );
  });

  it('choose the supervisor (local mode) with its timeout', () => {
    assert.deepEqual(state({ NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_TIMEOUT_MS: '50' }), {
      backend: 'supervisor',
      timeoutMs: 50,
    });
  });

  const bad: [string, Record<string, string>, string, RegExp][] = [
    [
      'an unknown backend',
      { NIMBUS_STATE_BACKEND: 'etcd' },
      'NIMBUS_STATE_BACKEND',
      /one of none, redis, supervisor, got "etcd"/,
    ],
    [
      'redis without a URL',
      { NIMBUS_STATE_BACKEND: 'redis' },
      'NIMBUS_STATE_REDIS_URL',
      /must be set when NIMBUS_STATE_BACKEND is redis/,
    ],
    [
      'a URL that is not Redis',
      { NIMBUS_STATE_REDIS_URL: 'http://redis:6379' },
      'NIMBUS_STATE_REDIS_URL',
      /redis:\/\/ or rediss:\/\//,
    ],
    [
      'a URL with a path',
      { NIMBUS_STATE_REDIS_URL: 'redis://redis:6379/x/y' },
      'NIMBUS_STATE_REDIS_URL',
      /redis:\/\//,
    ],
    [
      'a Redis URL beside the supervisor',
      { NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_REDIS_URL: 'redis://r:1' },
      'NIMBUS_STATE_REDIS_URL',
      /is set, but NIMBUS_STATE_BACKEND is supervisor/,
    ],
    [
      'a password with state off',
      { NIMBUS_STATE_BACKEND: 'none', NIMBUS_STATE_REDIS_PASSWORD: 'hunter2hunter2hunter2' },
      'NIMBUS_STATE_REDIS_PASSWORD',
      /is set, but NIMBUS_STATE_BACKEND is none/,
    ],
    [
      'a password and a password file',
      {
        NIMBUS_STATE_REDIS_URL: 'redis://r:1',
        NIMBUS_STATE_REDIS_PASSWORD: 'hunter2hunter2hunter2',
        NIMBUS_STATE_REDIS_PASSWORD_FILE: '/p',
      },
      'NIMBUS_STATE_REDIS_PASSWORD_FILE',
      /not both/,
    ],
    [
      'a username without a password',
      { NIMBUS_STATE_REDIS_URL: 'redis://r:1', NIMBUS_STATE_REDIS_USERNAME: 'u' },
      'NIMBUS_STATE_REDIS_USERNAME',
      /needs NIMBUS_STATE_REDIS_PASSWORD or NIMBUS_STATE_REDIS_PASSWORD_FILE/,
    ],
    [
      'a timeout below 10 ms',
      { NIMBUS_STATE_TIMEOUT_MS: '5' },
      'NIMBUS_STATE_TIMEOUT_MS',
      /from 10 to 60000, got "5"/,
    ],
    [
      'a limit of zero',
      { NIMBUS_STATE_MAX_VALUE_BYTES: '0' },
      'NIMBUS_STATE_MAX_VALUE_BYTES',
      /from 1 to 16777216/,
    ],
  ];
  for (const [what, env, key, message] of bad) {
    it(`refuse ${what}, naming ${key}`, () => {
      assert.throws(
        () => state(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.key, key);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('never echo a password, in a URL or on its own', () => {
    const secret = 'hunter2-is-the-password';
    const envs: Record<string, string>[] = [
      { NIMBUS_STATE_REDIS_URL: `http://:${secret}@r:1` },
      { NIMBUS_STATE_BACKEND: 'none', NIMBUS_STATE_REDIS_PASSWORD: secret },
    ];
    for (const env of envs)
      assert.throws(
        () => state(env),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
      );
  });
});
