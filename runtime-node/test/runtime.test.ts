import 'reflect-metadata';
import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { loadConfig } from '../src/config.js';
import { createRuntime } from '../src/container.js';
import type { Handler } from '../src/contract.js';
import type { SupervisorMessage } from '../src/supervisor-channel.js';
import { eventually, request } from './support/http-client.js';

describe('createRuntime (in process, with overrides)', () => {
  it('serves through injected adapters and times out on the injected clock', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const messages: SupervisorMessage[] = [];
    const lines: Record<string, unknown>[] = [];
    const handler: Handler = (event) =>
      event.path === '/hang' ? new Promise(() => {}) : `hi ${event.method}`;
    const runtime = createRuntime(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        NIMBUS_TIMEOUT_MS: '30000',
        NIMBUS_FUNCTION_NAME: 'inproc',
      }),
      {
        clock,
        handlerLoader: { load: async () => handler },
        supervisor: { send: (message) => messages.push(message) },
        logSink: (line) => lines.push(JSON.parse(line)),
        idGenerator: () => 'fixed-id',
      },
    );
    const { port, loaded } = await runtime.start();
    assert.equal((await loaded).status, 'ready');
    assert.deepEqual(messages, [{ type: 'listening', port }, { type: 'ready' }]);

    const ok = await request(port, '/');
    assert.deepEqual([ok.status, ok.text, ok.headers['x-call-id']], [200, 'hi GET', 'fixed-id']);

    const hanging = request(port, '/hang');
    // The invocation's deadline timer on the fake clock shows the call is in flight.
    await eventually(async () => (clock.pending === 1 ? true : undefined), 2000, 'the call in flight');
    clock.advance(30_000);
    const timedOut = await hanging;
    assert.equal(timedOut.status, 504);
    assert.equal(lines.find((l) => l.msg === 'function timed out')?.function, 'inproc');

    assert.equal(await runtime.shutdown(), true);
    await assert.rejects(request(port, '/'), /ECONNREFUSED/);
  });
});
