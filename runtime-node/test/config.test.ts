import assert from 'node:assert/strict';
import {
  ConfigError,
  FUNCTION_SETTINGS,
  PROCESS_SETTINGS,
  loadConfig,
  loadFunctionConfig,
  loadProcessConfig,
} from '../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    assert.deepEqual(config, {
      port: 8080,
      host: '0.0.0.0',
      functionDir: '/var/nimbus/function',
      handler: { module: 'index', exportName: 'default' },
      functionName: 'function',
      namespace: 'default',
      timeoutMs: 30_000,
      concurrency: 50,
      queueSize: 100,
      maxBodyBytes: 6_291_456,
      drainTimeoutMs: 30_000,
      debug: false,
      errorDetail: 'none',
      gatewayUrl: undefined,
      logLevel: 'info',
      pool: false,
      poolTokenFile: undefined,
      shutdownDelayMs: 0,
      state: { backend: 'none' },
      publish: { backend: 'none' },
    });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.handler));
  });

  it('reads every key', () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      NIMBUS_FUNCTION_DIR: '/srv/fn',
      NIMBUS_HANDLER: 'lib/main.mjs.handle',
      NIMBUS_FUNCTION_NAME: 'resize',
      NIMBUS_FUNCTION_NAMESPACE: 'images',
      NIMBUS_TIMEOUT_MS: '1500',
      NIMBUS_CONCURRENCY: '4',
      NIMBUS_QUEUE_SIZE: '0',
      NIMBUS_MAX_BODY_BYTES: '1024',
      NIMBUS_DRAIN_TIMEOUT_MS: '250',
      NIMBUS_DEBUG: 'true',
      NIMBUS_GATEWAY_URL: 'http://gateway.nimbus:8080/',
      NIMBUS_LOG_LEVEL: 'DEBUG',
      NIMBUS_POOL: '1',
      NIMBUS_POOL_TOKEN_FILE: '/var/run/nimbus-pool/token',
    });
    assert.equal(config.port, 0);
    assert.equal(config.pool, true);
    assert.equal(config.poolTokenFile, '/var/run/nimbus-pool/token');
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.functionDir, '/srv/fn');
    assert.deepEqual(config.handler, { module: 'lib/main.mjs', exportName: 'handle' });
    assert.equal(config.functionName, 'resize');
    assert.equal(config.namespace, 'images');
    assert.equal(config.timeoutMs, 1500);
    assert.equal(config.concurrency, 4);
    assert.equal(config.queueSize, 0);
    assert.equal(config.maxBodyBytes, 1024);
    assert.equal(config.drainTimeoutMs, 250);
    assert.equal(config.debug, true);
    assert.equal(config.gatewayUrl, 'http://gateway.nimbus:8080');
    assert.equal(config.logLevel, 'debug');
  });

  it('defaults the drain timeout to the function timeout', () => {
    assert.equal(loadConfig({ NIMBUS_TIMEOUT_MS: '1234' }).drainTimeoutMs, 1234);
  });

  it('treats an empty value as unset', () => {
    assert.equal(loadConfig({ PORT: '', NIMBUS_DEBUG: ' ' }).port, 8080);
  });

  it('resolves a relative function directory to an absolute path', () => {
    assert.equal(loadConfig({ NIMBUS_FUNCTION_DIR: 'fn' }).functionDir, `${process.cwd()}/fn`);
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['a port above 65535', { PORT: '70000' }, /^PORT must be an integer from 0 to 65535, got "70000"$/],
    ['a negative port', { PORT: '-1' }, /PORT must be an integer from 0 to 65535/],
    [
      'a fractional timeout',
      { NIMBUS_TIMEOUT_MS: '1.5' },
      /NIMBUS_TIMEOUT_MS must be an integer from 1 to 3600000/,
    ],
    [
      'a zero timeout',
      { NIMBUS_TIMEOUT_MS: '0' },
      /NIMBUS_TIMEOUT_MS must be an integer from 1 to 3600000, got "0"/,
    ],
    ['a timeout in exponent form', { NIMBUS_TIMEOUT_MS: '1e3' }, /NIMBUS_TIMEOUT_MS/],
    [
      'zero concurrency',
      { NIMBUS_CONCURRENCY: '0' },
      /NIMBUS_CONCURRENCY must be an integer from 1 to 10000/,
    ],
    [
      'too much concurrency',
      { NIMBUS_CONCURRENCY: '10001' },
      /NIMBUS_CONCURRENCY must be an integer from 1 to 10000/,
    ],
    [
      'a queue too large',
      { NIMBUS_QUEUE_SIZE: '100001' },
      /NIMBUS_QUEUE_SIZE must be an integer from 0 to 100000/,
    ],
    ['a word for a size', { NIMBUS_MAX_BODY_BYTES: 'big' }, /NIMBUS_MAX_BODY_BYTES must be an integer/],
    [
      'a drain timeout too long',
      { NIMBUS_DRAIN_TIMEOUT_MS: '3600001' },
      /NIMBUS_DRAIN_TIMEOUT_MS must be an integer from 0/,
    ],
    [
      'a debug flag that is not a boolean',
      { NIMBUS_DEBUG: 'yes' },
      /NIMBUS_DEBUG must be true or false, got "yes"/,
    ],
    [
      'an error detail that is neither full nor none',
      { NIMBUS_ERROR_DETAIL: 'some' },
      /NIMBUS_ERROR_DETAIL must be one of full, none, got "some"/,
    ],
    [
      'an unknown log level',
      { NIMBUS_LOG_LEVEL: 'trace' },
      /NIMBUS_LOG_LEVEL must be one of debug, info, warn, error, got "trace"/,
    ],
    [
      'a gateway URL that does not parse',
      { NIMBUS_GATEWAY_URL: 'gateway:8080 x' },
      /NIMBUS_GATEWAY_URL must be an http\(s\) URL/,
    ],
    [
      'a gateway URL of another scheme',
      { NIMBUS_GATEWAY_URL: 'ftp://gateway' },
      /NIMBUS_GATEWAY_URL must be an http\(s\) URL/,
    ],
    ['a handler without an export', { NIMBUS_HANDLER: 'index' }, /NIMBUS_HANDLER must be <module>.<export>/],
    [
      'a handler with an empty module',
      { NIMBUS_HANDLER: '.default' },
      /NIMBUS_HANDLER must be <module>.<export>/,
    ],
    ['a handler export that is not an identifier', { NIMBUS_HANDLER: 'index.2x' }, /NIMBUS_HANDLER must be/],
    ['a handler that climbs out of the directory', { NIMBUS_HANDLER: '../secret.default' }, /without "\.\."/],
    ['a handler with an absolute path', { NIMBUS_HANDLER: '/etc/passwd.default' }, /without "\.\."/],
    ['a handler climbing out mid-path', { NIMBUS_HANDLER: 'lib/../../x.default' }, /without "\.\."/],
    ['a pool flag that is not a boolean', { NIMBUS_POOL: 'maybe' }, /^NIMBUS_POOL must be true or false/],
    [
      'a pool token in the environment, where /proc/self/environ would keep it',
      { NIMBUS_POOL_TOKEN: 'a-token-of-24-characters' },
      /^NIMBUS_POOL_TOKEN is not read: .* NIMBUS_POOL_TOKEN_FILE$/,
    ],
  ];
  for (const [name, env, message] of bad) {
    it(`rejects ${name}, naming the key`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          assert.ok(error.message.startsWith(`${error.key} `), `${error.message} starts with its key`);
          assert.ok(Object.keys(env).includes(error.key));
          return true;
        },
      );
    });
  }

  it('never echoes a pool token given in the environment', () => {
    assert.throws(
      () => loadConfig({ NIMBUS_POOL_TOKEN: 'a-secret-pool-token-value' }),
      (error: unknown) => error instanceof Error && !error.message.includes('a-secret-pool-token-value'),
    );
  });
});

describe('loadFunctionConfig and loadProcessConfig', () => {
  /** The keys a parser reads from an env map. */
  function keysRead(parse: (env: Record<string, string | undefined>) => unknown): string[] {
    const read = new Set<string>();
    parse(
      new Proxy({} as Record<string, string | undefined>, {
        get: (_target, key) => {
          if (typeof key === 'string') read.add(key);
          return undefined;
        },
      }),
    );
    return [...read].sort();
  }

  it('split the keys between them: the function part reads exactly FUNCTION_SETTINGS', () => {
    assert.deepEqual(keysRead(loadFunctionConfig), [...FUNCTION_SETTINGS].sort());
    assert.deepEqual(keysRead(loadProcessConfig), [...PROCESS_SETTINGS].sort());
  });

  it('make up loadConfig together', () => {
    const env = { PORT: '0', NIMBUS_POOL: 'true', NIMBUS_CONCURRENCY: '3', NIMBUS_FUNCTION_NAME: 'f' };
    assert.deepEqual(loadConfig(env), { ...loadProcessConfig(env), ...loadFunctionConfig(env) });
  });

  it('reads the function part from an env map alone, ignoring process settings in it', () => {
    const config = loadFunctionConfig({
      NIMBUS_FUNCTION_NAME: 'resize',
      NIMBUS_TIMEOUT_MS: '900',
      PORT: 'x',
    });
    assert.equal(config.functionName, 'resize');
    assert.equal(config.timeoutMs, 900);
    assert.equal(config.drainTimeoutMs, 900);
    assert.ok(!('port' in config));
    assert.ok(Object.isFrozen(config));
  });
});
