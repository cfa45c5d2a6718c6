import assert from 'node:assert/strict';
import { ConfigError, loadFunctionConfig } from '../src/config.js';

describe('state settings (NIMBUS_STATE_*)', () => {
  const state = (env: Record<string, string>) => loadFunctionConfig(env).state;

  it('are off without a backend or a URL', () => {
    assert.deepEqual(state({}), { backend: 'none' });
    assert.deepEqual(state({ NIMBUS_STATE_BACKEND: 'none' }), { backend: 'none' });
  });

  it('choose the state service when a URL is given, with the token file and limits from the environment', () => {
    assert.deepEqual(
      state({
        NIMBUS_STATE_URL: 'http://nimbus-gateway-state.nimbus.svc:8081/',
        NIMBUS_STATE_TOKEN_FILE: '/var/nimbus/state/token',
        NIMBUS_STATE_TIMEOUT_MS: '250',
        NIMBUS_STATE_MAX_VALUE_BYTES: '1024',
      }),
      {
        backend: 'service',
        url: 'http://nimbus-gateway-state.nimbus.svc:8081',
        token: undefined,
        tokenFile: '/var/nimbus/state/token',
        timeoutMs: 250,
        maxValueBytes: 1024,
      },
    );
  });

  it('take a token directly, and default the timeout and the limit', () => {
    assert.deepEqual(
      state({
        NIMBUS_STATE_BACKEND: 'SERVICE',
        NIMBUS_STATE_URL: 'https://gw:8081',
        NIMBUS_STATE_TOKEN: 't',
      }),
      {
        backend: 'service',
        url: 'https://gw:8081',
        token: 't',
        tokenFile: undefined,
        timeoutMs: 1000,
        maxValueBytes: 65536,
      },
    );
  });

  it('choose the supervisor (local mode) with its timeout', () => {
    assert.deepEqual(state({ NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_TIMEOUT_MS: '50' }), {
      backend: 'supervisor',
      timeoutMs: 50,
      maxValueBytes: 64 * 1024,
    });
  });

  const bad: [string, Record<string, string>, string, RegExp][] = [
    [
      'an unknown backend',
      { NIMBUS_STATE_BACKEND: 'etcd' },
      'NIMBUS_STATE_BACKEND',
      /one of none, service, supervisor, got "etcd"/,
    ],
    [
      'Redis, which functions no longer reach',
      { NIMBUS_STATE_BACKEND: 'redis' },
      'NIMBUS_STATE_BACKEND',
      /no longer connect to Redis/,
    ],
    [
      'the service without a URL',
      { NIMBUS_STATE_BACKEND: 'service', NIMBUS_STATE_TOKEN: 't' },
      'NIMBUS_STATE_URL',
      /must be set when NIMBUS_STATE_BACKEND is service/,
    ],
    [
      'a URL that is not http',
      { NIMBUS_STATE_URL: 'redis://r:6379', NIMBUS_STATE_TOKEN: 't' },
      'NIMBUS_STATE_URL',
      /http:\/\/ or https:\/\//,
    ],
    [
      'a URL with credentials',
      { NIMBUS_STATE_URL: 'http://u:p@r:6379', NIMBUS_STATE_TOKEN: 't' },
      'NIMBUS_STATE_URL',
      /http:\/\/ or https:\/\//,
    ],
    [
      'the service without a token',
      { NIMBUS_STATE_URL: 'http://gw:8081' },
      'NIMBUS_STATE_TOKEN_FILE',
      /needs NIMBUS_STATE_TOKEN_FILE or NIMBUS_STATE_TOKEN/,
    ],
    [
      'a token and a token file',
      { NIMBUS_STATE_URL: 'http://gw:8081', NIMBUS_STATE_TOKEN: 't', NIMBUS_STATE_TOKEN_FILE: '/t' },
      'NIMBUS_STATE_TOKEN_FILE',
      /not both/,
    ],
    [
      'a service URL beside the supervisor',
      { NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_URL: 'http://gw:8081' },
      'NIMBUS_STATE_URL',
      /is set, but NIMBUS_STATE_BACKEND is supervisor/,
    ],
    [
      'a token with state off',
      { NIMBUS_STATE_BACKEND: 'none', NIMBUS_STATE_TOKEN: 'hunter2hunter2hunter2' },
      'NIMBUS_STATE_TOKEN',
      /is set, but NIMBUS_STATE_BACKEND is none/,
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

  it('never echo a token', () => {
    const secret = 'hunter2-is-the-token';
    const envs: Record<string, string>[] = [
      { NIMBUS_STATE_URL: `http://:${secret}@r:1`, NIMBUS_STATE_TOKEN: 't' },
      { NIMBUS_STATE_BACKEND: 'none', NIMBUS_STATE_TOKEN: secret },
    ];
    for (const env of envs)
      assert.throws(
        () => state(env),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
      );
  });
});
