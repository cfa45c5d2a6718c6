import assert from 'node:assert/strict';
import { removeFunctionDirs } from './support/function-dir.js';
import { eventually, metric, request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';

/** SIGTERM and SIGINT: drain, then exit 0; against each runtime. */
function describeShutdown(subject: RuntimeUnderTest): void {
  describe(`runtime process: shutdown (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess | undefined;

    afterEach(async () => {
      await runtime?.stop();
      runtime = undefined;
    });
    after(removeFunctionDirs);

    const start = async (env: Record<string, string> = {}) => {
      runtime = await startRuntime(subject, subject.kitchenSink, env);
      return runtime;
    };

    const inflight = (port: number) =>
      eventually(async () =>
        (await metric(port, 'nimbus_runtime_inflight_requests')) === 1 ? true : undefined,
      );

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`on ${signal}, finishes the call in flight with 200, refuses new connections, then exits 0`, async () => {
        const replica = await start();
        const port = replica.port;
        const inFlight = request(port, '/slow?ms=500');
        await inflight(port);

        let answeredAt = 0;
        const answered = inFlight.then((res) => {
          answeredAt = Date.now();
          return res;
        });
        replica.kill(signal);
        await replica.waitForLog((l) => l.msg === 'draining');
        await assert.rejects(request(port, '/_/health'), /ECONNREFUSED/, 'no new connections while draining');

        const res = await answered;
        assert.equal(res.status, 200);
        assert.equal(res.text, 'slow done');
        assert.equal(res.headers.connection, 'close');
        const exit = await replica.exited;
        const exitedAt = Date.now();
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(exitedAt >= answeredAt, 'exited only after the response');
      });
    }

    it('exits 0 at NIMBUS_DRAIN_TIMEOUT_MS when a call will not finish', async () => {
      const replica = await start({ NIMBUS_TIMEOUT_MS: '10000', NIMBUS_DRAIN_TIMEOUT_MS: '300' });
      const hung = request(replica.port, '/hang').catch((error: Error) => error);
      await inflight(replica.port);
      const signalledAt = Date.now();
      replica.kill('SIGTERM');
      const exit = await replica.exited;
      const took = Date.now() - signalledAt;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(took >= 250 && took < 3000, `exited ${took} ms after SIGTERM`);
      assert.ok((await hung) instanceof Error, 'the hung call was cut off');
      await replica.waitForLog((l) => l.msg === 'drain timed out');
    });

    it('exits at once on SIGTERM when idle', async () => {
      const replica = await start();
      replica.kill('SIGTERM');
      assert.deepEqual(await replica.exited, { code: 0, signal: null });
    });

    it('with NIMBUS_SHUTDOWN_DELAY_MS, goes on serving new requests while /_/ready says draining, then drains and exits', async () => {
      const replica = await start({ NIMBUS_SHUTDOWN_DELAY_MS: '800' });
      const port = replica.port;
      const signalledAt = Date.now();
      replica.kill('SIGTERM');
      await replica.waitForLog((l) => l.msg === 'leaving the endpoints');
      const ready = await request(port, '/_/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json(), { status: 'draining' });
      const served = await request(port, '/slow?ms=100');
      assert.equal(served.status, 200, 'a request that arrives during the delay is served');
      assert.equal(served.headers.connection, 'close');
      assert.deepEqual(await replica.exited, { code: 0, signal: null });
      const took = Date.now() - signalledAt;
      assert.ok(took >= 750, `exited ${took} ms after SIGTERM, not before the delay`);
    });
  });
}

for (const subject of RUNTIMES) describeShutdown(subject);
