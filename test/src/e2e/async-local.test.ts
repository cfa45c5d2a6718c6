import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { CallbackReceiver, callReaches, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

describe('async calls in local mode with no Redis and no NATS (the in-memory stand-ins)', function () {
  this.timeout(30_000);
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CallbackReceiver;

  before(async () => {
    dir = await functionsFolder({
      // At zero until the async call wakes it.
      'greet.yaml': inlineFunction(
        'greet',
        'export default async (event) => `Hello, ${event.body}!`;',
        'scale:\n  min: 0',
      ),
    });
    platform = await LocalModeProcess.start(dir);
    hooks = await CallbackReceiver.start();
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('says so in its log', async () => {
    await platform.waitForLog(
      (l) => l.msg === 'no NIMBUS_NATS_URL: async calls queue in memory, lost on restart',
      5_000,
    );
    await platform.waitForLog(
      (l) => String(l.msg).startsWith('no NIMBUS_REDIS_URL: state, call records'),
      5_000,
    );
  });

  it('takes an async call, wakes the function from zero, runs the call and calls back', async () => {
    const reply = await eventually(
      async () => {
        const r = await postAsync(
          platform.url,
          'greet',
          { 'content-type': 'text/plain', 'x-callback-url': hooks.url },
          'Ada',
        );
        // 503 only while the in-memory queue is being set up, a moment after start.
        return r.status === 503 ? undefined : r;
      },
      5_000,
      'the queue to take calls',
    );
    assert.equal(reply.status, 202, reply.text);
    const id = reply.headers['x-call-id'] as string;
    const done = await callReaches(platform.url, id, 'succeeded');
    assert.equal(done.result?.body, 'Hello, Ada!');
    assert.ok((done.timings.initMs ?? 0) > 0, `a cold start was recorded: ${JSON.stringify(done.timings)}`);
    const [callback] = await eventually(async () => hooks.byId.get(id), 10_000, 'the callback');
    assert.equal(callback?.body, 'Hello, Ada!');
    assert.equal(callback?.headers['x-function-status'], '200');
    const metrics = (
      await send(platform.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    ).text;
    assert.match(metrics, /nimbus_async_calls_accepted_total\{function="default\/greet"\} 1/);
    assert.match(metrics, /nimbus_async_calls_completed_total\{function="default\/greet"\} 1/);
    assert.match(metrics, /nimbus_async_queue_latency_seconds_count\{function="default\/greet"\} 1/);
  });
});
