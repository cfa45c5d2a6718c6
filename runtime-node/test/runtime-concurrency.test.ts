import assert from 'node:assert/strict';
import http from 'node:http';
import { removeFunctionDirs } from './support/function-dir.js';
import { type HttpResult, eventually, metric, request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';

/** NIMBUS_CONCURRENCY and NIMBUS_QUEUE_SIZE, against each runtime. */
function describeConcurrency(subject: RuntimeUnderTest): void {
  describe(`runtime process: concurrency limit and queue (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess | undefined;

    afterEach(async () => {
      await runtime?.stop();
      runtime = undefined;
    });
    after(removeFunctionDirs);

    async function startLimited(): Promise<number> {
      runtime = await startRuntime(subject, subject.kitchenSink, {
        NIMBUS_CONCURRENCY: '1',
        NIMBUS_QUEUE_SIZE: '1',
        NIMBUS_TIMEOUT_MS: '5000',
      });
      return runtime.port;
    }

    const gauge = (port: number, name: string, value: number) =>
      eventually(
        async () => ((await metric(port, name)) === value ? true : undefined),
        3000,
        `${name} = ${value}`,
      );

    it('queues one call behind a busy slot and refuses the next with 429 and Retry-After', async () => {
      const port = await startLimited();
      const first = request(port, '/slow?ms=600');
      await gauge(port, 'nimbus_runtime_inflight_requests', 1);
      const second = request(port, '/slow?ms=10');
      await gauge(port, 'nimbus_runtime_queued_requests', 1);

      const third = await request(port, '/text', { headers: { 'x-call-id': 'third' } });
      assert.equal(third.status, 429);
      assert.equal(third.headers['retry-after'], '1');
      assert.equal(third.headers['content-type'], 'application/json');
      assert.deepEqual(third.json(), {
        error: 'too many concurrent requests for this replica; retry later',
        invocationId: 'third',
      });

      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.equal(await metric(port, 'nimbus_runtime_requests_total{code="429"}'), 1);
      assert.equal(await metric(port, 'nimbus_runtime_queued_requests'), 0);
    });

    it('takes a queued call whose client disconnects out of the queue, and never runs it', async () => {
      const port = await startLimited();
      const first = request(port, '/slow?ms=700');
      await gauge(port, 'nimbus_runtime_inflight_requests', 1);

      const leaver = http.request({ host: '127.0.0.1', port, path: '/slow?ms=10', agent: false });
      leaver.on('error', () => {});
      leaver.end();
      await gauge(port, 'nimbus_runtime_queued_requests', 1);
      leaver.destroy();
      await gauge(port, 'nimbus_runtime_queued_requests', 0);

      // The place it left is free again: this call queues instead of getting a 429.
      const next: Promise<HttpResult> = request(port, '/slow?ms=10');
      await gauge(port, 'nimbus_runtime_queued_requests', 1);
      const [a, b] = await Promise.all([first, next]);
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.equal(
        (await request(port, '/slow-count')).text,
        '2',
        'the handler ran for the first and the last call only',
      );
      assert.equal(await metric(port, 'nimbus_runtime_requests_total{code="499"}'), 1);
    });
  });
}

for (const subject of RUNTIMES) describeConcurrency(subject);
