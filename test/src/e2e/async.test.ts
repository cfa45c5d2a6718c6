import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type BusMessage, DEAD_LETTER_HEADERS, DEAD_LETTER_STREAM, type JetStreamBus } from '@nimbus/bus';
import { type NatsServer, type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import {
  type CallView,
  CallbackReceiver,
  admin,
  callReaches,
  callRecord,
  postAsync,
  streamLastSeq,
} from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats, untilCallsQueueReady } from '../harness/nats.js';

/**
 * Counts attempts per call id in the replica's memory (one replica, so the count is whole):
 * `?fail=n` answers 503 (or 429 with `?retryAfter=s`) to the first n attempts of a call;
 * `?count=<id>` tells how many attempts that call has had.
 */
const COUNTING = `const attempts = new Map();
export default async (event, ctx) => {
  if (event.query.count) return { attempts: attempts.get(event.query.count) ?? 0 };
  const n = (attempts.get(ctx.invocationId) ?? 0) + 1;
  attempts.set(ctx.invocationId, n);
  if (n <= Number(event.query.fail ?? 0)) {
    if (event.query.retryAfter)
      return { statusCode: 429, headers: { 'retry-after': event.query.retryAfter }, body: 'slow down' };
    return { statusCode: 503, body: 'not yet: attempt ' + n };
  }
  return { attempt: n, body: event.body, path: event.path, method: event.method };
};`;

const oneReplica = (backoff: string, maxAttempts: number) =>
  `scale:\n  min: 1\n  max: 1\nasync:\n  maxAttempts: ${maxAttempts}\n  backoff:\n    initial: ${backoff}\n    max: ${backoff === '5s' ? '5s' : '1s'}`;

const FIXTURES = {
  'flaky.yaml': inlineFunction('flaky', COUNTING, oneReplica('200ms', 3)),
  'fragile.yaml': inlineFunction('fragile', COUNTING, oneReplica('100ms', 2)),
  'patient.yaml': inlineFunction('patient', COUNTING, oneReplica('5s', 3)),
};

describe('async calls end to end: local mode with a real Redis and NATS JetStream', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let secured: SecuredNats;
  let platform: LocalModeProcess;
  let dir: string;
  let bus: JetStreamBus;
  let hooks: CallbackReceiver;

  const attemptsSeen = async (fn: string, id: string) =>
    (await send(platform.url, `/function/${fn}?count=${id}`)).json<{ attempts: number }>().attempts;
  const accepted = async (path: string, headers: Record<string, string> = {}, body = ''): Promise<string> => {
    const reply = await postAsync(platform.url, path, headers, body);
    assert.equal(reply.status, 202, reply.text);
    const id = reply.headers['x-call-id'];
    assert.ok(typeof id === 'string' && id !== '');
    return id;
  };
  /** Nothing left in the calls durable: every delivery was settled, retries included. */
  const drained = () =>
    eventually(
      async () => {
        const info = await bus.consumerInfo('NIMBUS_CALLS', 'nimbus-calls');
        return info !== undefined && info.pending === 0 && info.ackPending === 0 ? true : undefined;
      },
      15_000,
      'the calls durable to drain',
    );

  before(async () => {
    [redis, secured] = await Promise.all([startRedisServer(), startSecuredNats()]);
    nats = secured.server;
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, { NIMBUS_REDIS_URL: redis.url, ...secured.env('local') });
    bus = await secured.connect(TEST_ADMIN);
    hooks = await CallbackReceiver.start();
    for (const fn of Object.keys(FIXTURES).map((f) => f.replace('.yaml', ''))) {
      await eventually(
        async () =>
          (await send(platform.url, `/function/${fn}?count=none`)).status === 200 ? true : undefined,
        20_000,
        `${fn} to have a ready replica`,
      );
    }
    await untilCallsQueueReady(secured);
  });

  after(async () => {
    await platform?.stop();
    await bus?.close();
    await hooks?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('logs that the queue is NATS JetStream and the records are in Redis', () => {
    assert.ok(
      platform.logs.some((l) => l.msg === 'async calls queue in NATS JetStream'),
      platform.dump(),
    );
    assert.ok(
      platform.logs.some(
        (l) => l.msg === 'state, call records, dead letters, claims and rate limits are in Redis',
      ),
    );
  });

  it('answers 202 with X-Call-Id, runs the call once, and records status, timings and the result', async () => {
    const id = await accepted('flaky/orders/7?fail=0', { 'content-type': 'application/json' }, '{"qty":2}');
    const done = await callReaches(platform.url, id, 'succeeded');
    assert.equal(done.attempts, 1);
    assert.equal(done.result?.statusCode, 200);
    assert.deepEqual(JSON.parse(done.result?.body ?? ''), {
      attempt: 1,
      body: { qty: 2 },
      path: '/orders/7',
      method: 'POST',
    });
    assert.match(done.result?.headers['content-type'] ?? '', /application\/json/);
    assert.ok((done.timings.waitMs ?? -1) >= 0, JSON.stringify(done.timings));
    assert.ok((done.timings.durationMs ?? 0) > 0, JSON.stringify(done.timings));
    assert.ok((done.startedAt ?? 0) >= done.createdAt && (done.finishedAt ?? 0) >= (done.startedAt ?? 0));
    assert.equal(await attemptsSeen('flaky', id), 1);
  });

  it('answers an unknown function with 404 JSON and a bad callback header with 400 naming it', async () => {
    const unknown = await postAsync(platform.url, 'nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, 'FunctionNotFound');
    const badHook = await postAsync(platform.url, 'flaky', { 'x-callback-url': 'not a url' });
    assert.equal(badHook.status, 400);
    assert.match(String(badHook.json().error), /X-Callback-Url/);
  });

  it('answers 503 QueueUnavailable while NATS is down, records the call as not queued, and queues again once NATS is back', async () => {
    await nats.pause();
    try {
      const reply = await postAsync(platform.url, 'flaky', { 'x-call-id': 'while-nats-is-down' });
      assert.equal(reply.status, 503, reply.text);
      assert.equal(reply.json().code, 'QueueUnavailable');
      assert.equal(reply.json().callId, 'while-nats-is-down');
      const call = (await callRecord(platform.url, 'while-nats-is-down')) as CallView;
      assert.equal(call.status, 'failed', 'nothing claims the call is queued');
      assert.match(call.lastError ?? '', /not queued/);
    } finally {
      await nats.resume();
    }
    const again = await eventually(
      async () => {
        const reply = await postAsync(platform.url, 'flaky', { 'x-call-id': 'while-nats-is-down' });
        return reply.status === 202 ? reply : undefined;
      },
      15_000,
      'the gateway to reach NATS again',
    );
    assert.equal(again.headers['x-call-id'], 'while-nats-is-down');
    await callReaches(platform.url, 'while-nats-is-down', 'succeeded');
    assert.equal(await attemptsSeen('flaky', 'while-nats-is-down'), 1, 'it ran once');
  });

  it('retries by the policy with backoff: a call that fails twice succeeds on attempt 3', async () => {
    const id = await accepted('flaky?fail=2');
    const done = await callReaches(platform.url, id, 'succeeded');
    assert.equal(done.attempts, 3);
    assert.equal(await attemptsSeen('flaky', id), 3);
    // 200 ms then 400 ms steps, never less than half of each.
    const took = (done.finishedAt ?? 0) - done.createdAt;
    assert.ok(took >= 300, `three attempts within ${took} ms: no backoff`);
    assert.match(done.lastError ?? '', /attempt 2: the function answered 503: not yet: attempt 2/);
  });

  it("waits a function's Retry-After before the next attempt", async () => {
    const id = await accepted('flaky?fail=1&retryAfter=1');
    const done = await callReaches(platform.url, id, 'succeeded');
    assert.equal(done.attempts, 2);
    const took = (done.finishedAt ?? 0) - done.createdAt;
    assert.ok(took >= 1000, `retried after ${took} ms, before the Retry-After of 1 s`);
  });

  it('dead-letters an exhausted call with its last error (record and NIMBUS_DLQ), and a redrive succeeds', async () => {
    const id = await accepted('fragile/x?fail=2', { 'content-type': 'text/plain' }, 'keep me');
    const failed = await callReaches(platform.url, id, 'failed');
    assert.equal(failed.attempts, 2);
    assert.match(failed.lastError ?? '', /attempt 2: the function answered 503: not yet: attempt 2/);

    const page = (
      await send(platform.url, '/system/dead-letters?namespace=default&function=fragile', { headers: admin })
    ).json<{ entries: { id: string; lastError: string; attempts: number; reason: string }[] }>();
    const letter = page.entries.find((e) => e.id === id);
    assert.ok(letter, JSON.stringify(page));
    assert.equal(letter.reason, 'attempts-exhausted');
    assert.match(letter.lastError, /not yet: attempt 2/);

    await bus.ensureConsumer({
      stream: DEAD_LETTER_STREAM,
      name: 'test-fragile',
      filterSubject: 'nimbus.dlq.default.fragile',
    });
    const dead: BusMessage[] = [];
    const reading = bus.consume(DEAD_LETTER_STREAM, 'test-fragile', async (m) => {
      dead.push(m);
      await m.ack();
    });
    try {
      const message = await eventually(
        async () => dead.find((m) => m.headers[DEAD_LETTER_HEADERS.id] === id),
        10_000,
        'the dead letter in NIMBUS_DLQ',
      );
      assert.match(message.headers[DEAD_LETTER_HEADERS.error] ?? '', /not yet: attempt 2/);
      assert.equal(Buffer.from(message.data).toString(), 'keep me');
    } finally {
      await reading.stop();
    }

    const redrive = await send(platform.url, `/system/dead-letters/${id}/redrive`, {
      method: 'POST',
      headers: admin,
    });
    assert.equal(redrive.status, 202, redrive.text);
    const done = await callReaches(platform.url, id, 'succeeded');
    assert.equal(done.attempts, 1, 'a new series of attempts');
    assert.equal(JSON.parse(done.result?.body ?? '{}').body, 'keep me');
    assert.equal(await attemptsSeen('fragile', id), 3);
    const gone = await send(platform.url, `/system/dead-letters/${id}`, { headers: admin });
    assert.equal(gone.status, 404);
  });

  it('cancels a call waiting for its retry; it never runs again, and a finished or unknown call cannot be cancelled', async () => {
    const id = await accepted('patient?fail=1');
    await eventually(
      async () => {
        const call = await callRecord(platform.url, id);
        return call?.status === 'queued' && call.attempts === 1 ? call : undefined;
      },
      10_000,
      'the first attempt to fail and the call to wait for its retry',
    );
    const cancel = await send(platform.url, `/async-function/${id}`, { method: 'DELETE', headers: admin });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.json().status, 'cancelled');
    await drained();
    assert.equal(await attemptsSeen('patient', id), 1, 'the retry found the call cancelled');
    assert.equal((await callRecord(platform.url, id))?.status, 'cancelled');

    const finished = await accepted('flaky');
    await callReaches(platform.url, finished, 'succeeded');
    const late = await send(platform.url, `/async-function/${finished}`, {
      method: 'DELETE',
      headers: admin,
    });
    assert.equal(late.status, 409);
    assert.equal(late.json().code, 'CallNotCancellable');
    const unknown = await send(platform.url, '/async-function/never-was', {
      method: 'DELETE',
      headers: admin,
    });
    assert.equal(unknown.status, 404);
  });

  it('POSTs the result to X-Callback-Url with X-Call-Id, X-Function-Status and X-Duration-Seconds', async () => {
    const id = await accepted(
      'flaky?fail=1',
      { 'x-callback-url': hooks.url, 'content-type': 'text/plain' },
      'hooked',
    );
    const [callback] = await eventually(async () => hooks.byId.get(id), 15_000, 'the callback');
    assert.ok(callback);
    assert.equal(callback.headers['x-function-status'], '200');
    assert.equal(callback.headers['x-call-status'], 'succeeded');
    assert.ok(Number(callback.headers['x-duration-seconds']) > 0);
    assert.deepEqual(JSON.parse(callback.body), { attempt: 2, body: 'hooked', path: '/', method: 'POST' });
    await drained();
    assert.equal(hooks.byId.get(id)?.length, 1, 'one callback for one call, retries included');
  });

  it('deduplicates a repeated X-Call-Id: one run, one id, one stored message', async () => {
    await drained();
    const before = await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS');
    const replies = await Promise.all(
      [1, 2, 3].map(() => postAsync(platform.url, 'flaky', { 'x-call-id': 'order-1234' }, 'once')),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 202, reply.text);
      assert.equal(reply.headers['x-call-id'], 'order-1234');
    }
    await callReaches(platform.url, 'order-1234', 'succeeded');
    await drained();
    const after = await postAsync(platform.url, 'flaky', { 'x-call-id': 'order-1234' }, 'once');
    assert.deepEqual(after.json(), { id: 'order-1234', status: 'succeeded', duplicate: true });
    assert.equal(await attemptsSeen('flaky', 'order-1234'), 1, 'the function ran once');
    assert.equal(await streamLastSeq(nats.monitorPort, 'NIMBUS_CALLS'), before + 1, 'one message stored');
  });

  it('needed nothing its least-privilege NATS user is denied', () => {
    assert.deepEqual(secured.violations(), []);
  });
});
