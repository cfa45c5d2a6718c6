import assert from 'node:assert/strict';
import { validateFunction } from '@nimbus/api';
import { inlineFileName } from '@nimbus/api';
import { canonicalJson, specHash } from '@nimbus/api';
import { buildReplicaEnv } from '../src/process/replica-env.js';
import { type BackoffPolicy, crashesAfter, restartDelay } from '../src/process/restart-backoff.js';

const policy: BackoffPolicy = { baseMs: 250, maxMs: 30_000, stableAfterMs: 10_000 };

describe('restart backoff', () => {
  const delays: [number, number][] = [
    [1, 250],
    [2, 500],
    [3, 1000],
    [7, 16_000],
    [8, 30_000],
    [50, 30_000],
  ];
  for (const [crashes, ms] of delays) {
    it(`waits ${ms} ms after crash ${crashes} in a row`, () =>
      assert.equal(restartDelay(crashes, policy), ms));
  }

  const counts: [string, number, number | undefined, number, number][] = [
    ['a replica that never got ready counts on', 3, undefined, 50_000, 4],
    ['a replica that crashed soon after ready counts on', 3, 45_000, 50_000, 4],
    ['a replica that stayed up long enough starts over', 6, 30_000, 50_000, 1],
    ['exactly the stable time starts over', 2, 40_000, 50_000, 1],
  ];
  for (const [name, previous, upSince, now, expected] of counts) {
    it(name, () => assert.equal(crashesAfter(previous, upSince, now, policy), expected));
  }
});

describe('buildReplicaEnv', () => {
  const fn = (spec: Record<string, unknown>) => {
    const result = validateFunction({
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name: 'hello', namespace: 'team' },
      spec: { source: { inline: 'x' }, ...spec },
    });
    assert.ok(result.ok);
    return result.value;
  };

  it('maps the spec onto the runtime contract', () => {
    const env = buildReplicaEnv(fn({ timeout: '1m30s', concurrency: 7, handler: 'main.handle' }), '/code', {
      gatewayUrl: 'http://127.0.0.1:8080',
      inherited: { PATH: '/usr/bin', SECRET_OF_THE_PLATFORM: 'x' },
    });
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_FUNCTION_NAME: 'hello',
      NIMBUS_FUNCTION_NAMESPACE: 'team',
      NIMBUS_FUNCTION_DIR: '/code',
      NIMBUS_HANDLER: 'main.handle',
      NIMBUS_TIMEOUT_MS: '90000',
      NIMBUS_CONCURRENCY: '7',
      NIMBUS_QUEUE_SIZE: '14',
      NIMBUS_GATEWAY_URL: 'http://127.0.0.1:8080',
      NIMBUS_EVENTS_BACKEND: 'supervisor',
    });
  });

  it('hands the replica the error detail local mode was given (a Function cannot set NIMBUS_* itself)', () => {
    const env = buildReplicaEnv(fn({}), '/c', {
      gatewayUrl: '',
      inherited: {},
      errorDetail: 'none',
    });
    assert.equal(env.NIMBUS_ERROR_DETAIL, 'none');
  });

  it("passes the function's own variables, which cannot override the platform's", () => {
    const env = buildReplicaEnv(
      fn({
        env: [
          { name: 'GREETING', value: 'hi' },
          { name: 'PORT', value: '1' },
        ],
      }),
      '/c',
      {
        gatewayUrl: '',
        inherited: {},
      },
    );
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.PORT, '0');
  });

  it('points ctx.state of a function with state at the supervisor, with no Redis URL or credentials', () => {
    const env = buildReplicaEnv(
      fn({ state: { enabled: true }, env: [{ name: 'GREETING', value: 'hi' }] }),
      '/c',
      {
        gatewayUrl: '',
        inherited: { NIMBUS_REDIS_URL: 'redis://:pw@127.0.0.1:6379' },
        stateMaxValueBytes: 4096,
      },
    );
    const stateEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('NIMBUS_STATE_')));
    // The supervisor's value limit, so the replica refuses a larger value before the transfer.
    assert.deepEqual(stateEnv, { NIMBUS_STATE_BACKEND: 'supervisor', NIMBUS_STATE_MAX_VALUE_BYTES: '4096' });
    assert.ok(!Object.values(env).some((v) => v.includes('redis://')));
    assert.equal(env.GREETING, 'hi');
  });

  it('gives a function without state no state settings', () => {
    for (const spec of [{}, { state: { enabled: false } }]) {
      const env = buildReplicaEnv(fn(spec), '/c', { gatewayUrl: '', inherited: {} });
      assert.deepEqual(
        Object.keys(env).filter((k) => k.startsWith('NIMBUS_STATE_')),
        [],
      );
    }
  });
});

describe('spec hash', () => {
  it('ignores key order and undefined fields', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ y: 2, x: undefined, w: 1 }] }), '{"a":[{"w":1,"y":2}],"b":1}');
    assert.equal(specHash({ a: 1, b: 2 }), specHash({ b: 2, a: 1 }));
  });
  it('changes with any value', () => {
    assert.notEqual(specHash({ a: 1 }), specHash({ a: 2 }));
    assert.notEqual(specHash({ a: 1 }, 'code-v1'), specHash({ a: 1 }, 'code-v2'));
  });
});

describe('inline source file name', () => {
  const cases: [string, string][] = [
    ['index.default', 'index.mjs'],
    ['index.cjs.default', 'index.cjs'],
    ['lib/main.handle', 'lib/main.mjs'],
    ['app.js.handler', 'app.js'],
  ];
  for (const [handler, file] of cases)
    it(`${handler} → ${file}`, () => assert.equal(inlineFileName(handler), file));
});
