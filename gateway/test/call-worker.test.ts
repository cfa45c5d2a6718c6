import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { type BusMessage, MemoryBus } from '@nimbus/bus';
import { type CallRecord, type Stores, createMemoryStores } from '@nimbus/store';
import { ManualClock, eventually } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { readAsyncConfig } from '../src/async/async-config.js';
import { encodeCall } from '../src/async/call-message.js';
import { CallQueue } from '../src/async/call-queue.js';
import { CallWorker } from '../src/async/call-worker.js';
import { CallbackSender } from '../src/async/callback-sender.js';
import type { BufferedRequest, CallOutcome } from '../src/invoke/invoker.js';
import { AsyncMetrics } from '../src/metrics/async-metrics.js';
import { RouteTable } from '../src/routing/route-table.js';

const NOW = 1_800_000_000_000;
const log = createLogger({}, 'error');

/** A delivery as the bus hands it over, recording how the worker settled it. */
function delivery(id: string, deliveryCount: number, lastAttempt = false) {
  const message = encodeCall(
    {
      id,
      namespace: 'default',
      function: 'job',
      method: 'POST',
      path: '/',
      headers: { 'x-call-id': id },
      body: Buffer.from('payload'),
      callbackUrl: undefined,
      acceptedAt: NOW - 1000,
    },
    id,
  );
  const settled: string[] = [];
  const bus: BusMessage = {
    id,
    subject: message.subject,
    stream: 'NIMBUS_CALLS',
    streamSeq: 7,
    data: message.data,
    headers: message.options.headers ?? {},
    deliveryCount,
    timestamp: NOW,
    lastAttempt,
    ack: async () => {
      settled.push('ack');
    },
    nak: (delayMs) => {
      settled.push(`nak ${delayMs}`);
    },
    term: () => {
      settled.push('term');
    },
    working: () => {},
  };
  return { message: bus, settled };
}

describe('CallWorker: what a delivery does, by the call record it finds', () => {
  let stores: Stores;
  let queue: CallQueue;
  let memoryBus: MemoryBus;
  let runs: BufferedRequest[];
  let answer: CallOutcome;
  let worker: CallWorker;
  let registry: Registry;

  const ok: CallOutcome = {
    kind: 'response',
    status: 200,
    headers: {},
    body: Buffer.from('fine'),
    size: 4,
    durationMs: 3,
  };
  const busy: CallOutcome = {
    kind: 'response',
    status: 503,
    headers: {},
    body: Buffer.from('busy'),
    size: 4,
    durationMs: 3,
  };

  beforeEach(async () => {
    stores = createMemoryStores({ clock: new ManualClock(NOW) });
    memoryBus = new MemoryBus();
    queue = new CallQueue(readAsyncConfig({}), log, memoryBus);
    queue.start();
    await eventually(() => (queue.unavailableReason() === undefined ? true : undefined), 5_000, 'the queue');
    const routes = new RouteTable();
    routes.upsert({ name: 'job', namespace: 'default', timeoutMs: 1000, concurrency: 1, auth: 'none' });
    runs = [];
    answer = ok;
    registry = new Registry();
    worker = new CallWorker(
      {
        calls: stores.calls,
        deadLetters: stores.deadLetters,
        queue,
        routes,
        directory: { list: () => [], get: () => undefined },
        invoker: {
          call: async (_route, request) => {
            runs.push(request);
            return answer;
          },
        },
        callbacks: new CallbackSender({ callbackAttempts: 1, callbackTimeoutMs: 100 }, log),
        metrics: new AsyncMetrics(registry),
        readiness: { notReadyReason: () => undefined },
        log,
        now: () => NOW,
        random: () => 0,
        maxResultBytes: 1024 * 1024,
      },
      1,
    );
  });

  afterEach(async () => {
    await queue.close();
    await memoryBus.close();
  });

  const put = async (id: string, status: CallRecord['status'], attempts: number) => {
    await stores.calls.create({ id, namespace: 'default', function: 'job', createdAt: NOW - 1000 });
    await stores.calls.transition(id, ['queued'], { status, attempts });
  };

  it('runs a queued call on its first delivery: attempt 1, wait from acceptance, acknowledged', async () => {
    await put('a', 'queued', 0);
    const { message, settled } = delivery('a', 1);
    await worker.handle(message);
    assert.deepEqual(settled, ['ack']);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.headers['x-call-id'], 'a');
    const record = (await stores.calls.get('a')) as CallRecord;
    assert.equal(record.status, 'succeeded');
    assert.equal(record.attempts, 1);
    assert.equal(record.timings.waitMs, 1000);
  });

  it('makes a record that is gone (expired, or Redis lost it) again from the message, and runs the call', async () => {
    const { message, settled } = delivery('lost-record', 1);
    await worker.handle(message);
    assert.deepEqual(settled, ['ack']);
    assert.equal(runs.length, 1);
    assert.equal((await stores.calls.get('lost-record'))?.status, 'succeeded');
  });

  const skipped: [string, CallRecord['status'], number, number][] = [
    ['a finished call on a late redelivery', 'succeeded', 1, 2],
    ['a cancelled call', 'cancelled', 0, 1],
    ['a call that failed to queue', 'failed', 0, 1],
    ['a running call on a first delivery (a second message for one call)', 'running', 1, 1],
  ];
  for (const [what, status, attempts, deliveryCount] of skipped) {
    it(`acknowledges without running ${what}`, async () => {
      await put('s', status, attempts);
      const { message, settled } = delivery('s', deliveryCount);
      await worker.handle(message);
      assert.deepEqual(settled, ['ack']);
      assert.equal(runs.length, 0);
      assert.equal((await stores.calls.get('s'))?.status, status, 'the record is left as it was');
    });
  }

  it('takes over a running call on a redelivery (its worker was lost), counting the lost attempt', async () => {
    await put('t', 'running', 1);
    const { message, settled } = delivery('t', 2);
    await worker.handle(message);
    assert.deepEqual(settled, ['ack']);
    assert.equal(runs.length, 1);
    assert.equal((await stores.calls.get('t'))?.attempts, 2);
  });

  it('ends a running call whose attempts are spent without running it: failed, dead-lettered', async () => {
    await put('spent', 'running', 3);
    const { message, settled } = delivery('spent', 4);
    await worker.handle(message);
    assert.deepEqual(settled, ['ack']);
    assert.equal(runs.length, 0);
    const record = (await stores.calls.get('spent')) as CallRecord;
    assert.equal(record.status, 'failed');
    assert.match(record.lastError ?? '', /stopped before it finished/);
    const letter = await stores.deadLetters.get('spent');
    assert.equal(letter?.reason, 'attempts-exhausted');
    assert.equal(letter?.request.headers[':method'], 'POST');
  });

  it('puts a retryable failure back with the backoff, as queued with the last error', async () => {
    await put('r', 'queued', 0);
    answer = busy;
    const { message, settled } = delivery('r', 1);
    await worker.handle(message);
    assert.deepEqual(settled, ['nak 500'], 'half the 1 s first step, at random 0');
    const record = (await stores.calls.get('r')) as CallRecord;
    assert.equal(record.status, 'queued');
    assert.equal(record.attempts, 1);
    assert.match(record.lastError ?? '', /attempt 1: the function answered 503: busy/);
  });

  it('ends a retryable failure on the durable’s last delivery (max-deliver)', async () => {
    await put('last', 'queued', 0);
    answer = busy;
    const { message, settled } = delivery('last', 1, true);
    await worker.handle(message);
    assert.deepEqual(settled, ['ack']);
    assert.equal((await stores.calls.get('last'))?.status, 'failed');
    assert.equal((await stores.deadLetters.get('last'))?.reason, 'max-deliver');
  });

  it('counts each outcome once, however often it is delivered', async () => {
    await put('once', 'queued', 0);
    await worker.handle(delivery('once', 1).message);
    await worker.handle(delivery('once', 2).message);
    const completed = await registry.getSingleMetric('nimbus_async_calls_completed_total')?.get();
    assert.deepEqual(
      completed?.values.map((v) => v.value),
      [1],
    );
    assert.equal(runs.length, 1);
  });
});
