import 'reflect-metadata';
import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { loadProcessConfig } from '../src/config.js';
import { createPoolReplica } from '../src/container.js';
import type { Handler } from '../src/contract.js';
import type { PoolReplica } from '../src/pool/pool-replica.js';
import type { SupervisorMessage } from '../src/supervisor-channel.js';
import { eventually, request } from './support/http-client.js';

describe('PoolReplica (in process, with overrides)', () => {
  let pool: PoolReplica | undefined;
  let messages: SupervisorMessage[];
  let lines: Record<string, unknown>[];
  let environment: Record<string, string | undefined>;
  let envAtLoad: Record<string, string | undefined> | undefined;
  let clock: ManualClock;

  const handler: Handler = (event, ctx) => {
    if (event.path === '/hang') return new Promise(() => {});
    return {
      functionName: ctx.functionName,
      namespace: ctx.namespace,
      greeting: environment.GREETING ?? null,
    };
  };

  async function startPool(): Promise<number> {
    messages = [];
    lines = [];
    environment = { PATH: '/usr/bin', PORT: '0' };
    envAtLoad = undefined;
    clock = new ManualClock(1_700_000_000_000);
    pool = createPoolReplica(
      loadProcessConfig({ PORT: '0', HOST: '127.0.0.1', NIMBUS_POOL: '1' }),
      undefined,
      {
        clock,
        supervisor: { send: (message) => messages.push(message) },
        logSink: (line) => lines.push(JSON.parse(line)),
        environment,
        handlerLoader: {
          load: async () => {
            envAtLoad = { ...environment };
            return handler;
          },
        },
      },
    );
    return pool.listen();
  }

  const loaded = () =>
    eventually(
      () => messages.find((m) => m.type === 'ready' || m.type === 'load-failed'),
      2000,
      'a load result',
    );

  afterEach(async () => {
    await pool?.shutdown();
    pool = undefined;
  });

  it('sets the env before the handler loads, keeps its own process settings, and serves the function', async () => {
    const port = await startPool();
    assert.deepEqual(messages, [{ type: 'listening', port }]);
    assert.equal((await request(port, '/')).status, 503);

    pool?.receive({
      type: 'specialise',
      env: {
        NIMBUS_FUNCTION_NAME: 'resize',
        NIMBUS_FUNCTION_NAMESPACE: 'images',
        GREETING: 'hi',
        PORT: '9999',
      },
    });
    assert.deepEqual(await loaded(), { type: 'ready' });
    assert.deepEqual(envAtLoad, {
      PATH: '/usr/bin',
      PORT: '0',
      NIMBUS_FUNCTION_NAME: 'resize',
      NIMBUS_FUNCTION_NAMESPACE: 'images',
      GREETING: 'hi',
    });
    const res = await request(port, '/');
    assert.deepEqual(
      [res.status, res.json()],
      [200, { functionName: 'resize', namespace: 'images', greeting: 'hi' }],
    );

    const specialising = lines.find((l) => l.msg === 'specialising');
    assert.deepEqual([specialising?.function, specialising?.ignored], ['resize', ['PORT']]);
    assert.equal(
      pool?.refusal,
      'this replica has taken on function resize; a process serves one function for life',
    );
  });

  it("applies the function's timeout and concurrency to the runtime it composes", async () => {
    const port = await startPool();
    pool?.receive({
      type: 'specialise',
      env: { NIMBUS_TIMEOUT_MS: '1000', NIMBUS_CONCURRENCY: '1', NIMBUS_QUEUE_SIZE: '0' },
    });
    await loaded();
    const hanging = request(port, '/hang');
    await eventually(() => (clock.pending === 1 ? true : undefined), 2000, 'the call in flight');
    // The one slot is taken and there is no queue: a second call is turned away at once.
    assert.equal((await request(port, '/')).status, 429);
    clock.advance(999);
    assert.equal(clock.pending, 1);
    clock.advance(1);
    assert.equal((await hanging).status, 504);
  });

  it('answers an invalid specialise with what is wrong, changing nothing', async () => {
    const port = await startPool();
    const outcome = pool?.specialise({ NIMBUS_LOG_LEVEL: 'loud', GREETING: 'hi' });
    assert.deepEqual(outcome, {
      kind: 'invalid',
      field: 'NIMBUS_LOG_LEVEL',
      reason: 'NIMBUS_LOG_LEVEL must be one of debug, info, warn, error, got "loud"',
    });
    assert.equal(environment.GREETING, undefined);
    assert.equal(pool?.refusal, undefined);
    assert.equal((await request(port, '/_/ready')).status, 503);
    assert.deepEqual(messages, [{ type: 'listening', port }]);
  });

  it('ignores supervisor messages other than specialise', async () => {
    const port = await startPool();
    for (const message of [null, 'specialise', { type: 'reload' }, { env: {} }]) pool?.receive(message);
    assert.deepEqual(messages, [{ type: 'listening', port }]);
    assert.equal(pool?.refusal, undefined);
  });

  it('refuses to specialise once shutting down', async () => {
    const port = await startPool();
    assert.equal(await pool?.shutdown(), true);
    pool?.receive({ type: 'specialise', env: {} });
    assert.deepEqual(messages, [
      { type: 'listening', port },
      { type: 'specialise-refused', reason: 'this replica is shutting down' },
    ]);
    await assert.rejects(request(port, '/_/health'), /ECONNREFUSED/);
  });
});
