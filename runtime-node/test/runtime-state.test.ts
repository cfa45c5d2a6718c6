import assert from 'node:assert/strict';
import { systemClock } from '@nimbus/api/clock';
import { MemoryStateStore } from '@nimbus/store';
import type { StateRequest } from '../src/supervisor-channel.js';
import { removeFunctionDirs } from './support/function-dir.js';
import { request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';
import { TestStateSupervisor } from './support/state-supervisor.js';

const NOT_ENABLED = 'function state is not enabled for this function (set spec.state.enabled: true)';

/** What the handler sends, without the id that pairs it with its answer. */
function withoutId(message: StateRequest | undefined): Record<string, unknown> {
  assert.ok(message !== undefined, 'a state request was sent');
  const { id, ...rest } = message;
  assert.equal(typeof id, 'number');
  return rest;
}

/**
 * ctx.state in local mode, end to end through a replica's IPC channel, against each runtime: the
 * test plays the supervisor, answering the `state` messages runtime-node sends (supervisor-channel.ts)
 * from a MemoryStateStore, as local mode's StateHost does.
 */
function describeState(subject: RuntimeUnderTest): void {
  describe(`runtime process: ctx.state over the supervisor channel (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess;
    let supervisor: TestStateSupervisor;
    let port: number;

    before(async () => {
      // The store's limit is below the replica's, so some refusals come back from the supervisor.
      supervisor = new TestStateSupervisor(
        new MemoryStateStore(systemClock, { maxValueBytes: 32 }),
        'tests',
        'stateful',
      );
      runtime = await startRuntime(subject, subject.state, {
        NIMBUS_STATE_BACKEND: 'supervisor',
        NIMBUS_STATE_TIMEOUT_MS: '300',
        NIMBUS_STATE_MAX_VALUE_BYTES: '64',
      });
      supervisor.attach(runtime);
      port = runtime.port;
    });

    after(async () => {
      await runtime?.stop();
      removeFunctionDirs();
    });

    const post = (path: string, body: string) =>
      request(port, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    it("runs every operation through the supervisor, in runtime-node's messages", async () => {
      const set = (await post('/set?key=k&ttl=2', '{"a":1}')).json() as { version: string };
      assert.equal(typeof set.version, 'string');
      assert.deepEqual(withoutId(supervisor.requests.at(-1)), {
        type: 'state',
        op: 'set',
        key: 'k',
        value: { a: 1 },
        ttlMs: 2000,
      });
      assert.deepEqual((await request(port, '/get-with-version?key=k')).json(), {
        value: { a: 1 },
        version: set.version,
      });
      assert.deepEqual((await post(`/cas?key=k&version=${set.version}`, '{"a":2}')).json(), {
        written: true,
      });
      assert.deepEqual(withoutId(supervisor.requests.at(-1)), {
        type: 'state',
        op: 'compareAndSet',
        key: 'k',
        expectedVersion: set.version,
        value: { a: 2 },
      });
      assert.deepEqual((await post(`/cas?key=k&version=${set.version}`, '{"a":3}')).json(), {
        written: false,
      });
      assert.deepEqual((await request(port, '/get?key=k')).json(), { value: { a: 2 } });
      assert.deepEqual((await request(port, '/incr?key=n&by=5')).json(), { value: 5 });
      assert.deepEqual(withoutId(supervisor.requests.at(-1)), { type: 'state', op: 'incr', key: 'n', by: 5 });
      assert.deepEqual((await request(port, '/delete?key=k')).json(), { deleted: true });
      assert.deepEqual(withoutId(supervisor.requests.at(-1)), { type: 'state', op: 'delete', key: 'k' });
      assert.deepEqual((await request(port, '/get?key=k')).json(), { value: null });
      assert.deepEqual(withoutId(supervisor.requests.at(-1)), { type: 'state', op: 'get', key: 'k' });
      const ids = supervisor.requests.map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length, 'every call has an id of its own');
    });

    it("raises the supervisor's errors by name; uncaught, they answer with their status", async () => {
      const big = JSON.stringify('x'.repeat(40));
      const caught = (await post('/set?key=big', big)).json() as Record<string, unknown>;
      assert.equal(caught.name, 'StateValueTooLargeError');
      assert.match(String(caught.message), /over the limit of 32 bytes/);
      assert.equal(caught.limit, 32);
      assert.equal(
        ((await request(port, '/get?key=')).json() as Record<string, unknown>).name,
        'InvalidStateKeyError',
      );

      const uncaught = await post('/uncaught/set?key=big', big);
      assert.equal(uncaught.status, 413);
      const body = uncaught.json() as Record<string, unknown>;
      assert.equal(body.code, 'StateValueTooLarge');
      assert.equal(body.limit, 32);
      assert.match(String(body.error), /over the limit of 32 bytes/);
      assert.equal(body.invocationId, uncaught.headers['x-call-id']);
    });

    it('refuses a value over its own limit before sending it', async () => {
      const sent = supervisor.requests.length;
      const caught = (await post('/set?key=huge', JSON.stringify('y'.repeat(100)))).json() as Record<
        string,
        unknown
      >;
      assert.equal(caught.name, 'StateValueTooLargeError');
      assert.equal(caught.limit, 64);
      assert.match(String(caught.message), /is 102 bytes as JSON, over the limit of 64 bytes/);
      assert.equal(supervisor.requests.length, sent, 'nothing was sent');
    });

    it('fails a call the supervisor does not answer as unavailable: 503 with Retry-After', async () => {
      supervisor.silentKeys.add('silent');
      const res = await request(port, '/uncaught/get?key=silent');
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '1');
      const body = res.json() as Record<string, unknown>;
      assert.equal(body.code, 'StateUnavailable');
      assert.match(String(body.error), /state get: the local supervisor did not answer within 300 ms/);
      assert.equal((await request(port, '/incr?key=after')).status, 200, 'later calls still work');
    });
  });

  describe(`runtime process: ctx.state without a backend (${subject.name})`, function () {
    this.timeout(30_000);
    let runtime: RuntimeProcess;

    before(async () => {
      runtime = await startRuntime(subject, subject.state);
    });

    after(async () => {
      await runtime?.stop();
      removeFunctionDirs();
    });

    it('raises StateNotEnabledError, which answers 500 uncaught, and asks the supervisor nothing', async () => {
      assert.deepEqual((await request(runtime.port, '/get?key=k')).json(), {
        name: 'StateNotEnabledError',
        message: NOT_ENABLED,
        limit: null,
      });
      const uncaught = await request(runtime.port, '/uncaught/incr?key=k');
      assert.equal(uncaught.status, 500);
      assert.deepEqual(uncaught.json(), {
        error: NOT_ENABLED,
        code: 'StateNotEnabled',
        invocationId: uncaught.headers['x-call-id'],
      });
      assert.ok(!runtime.messages.some((m) => m.type === 'state'));
    });
  });
}

for (const subject of RUNTIMES) describeState(subject);
