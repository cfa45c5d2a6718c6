import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { readEgressConfig } from '../src/egress/egress-config.js';
import { EgressGuard, type ResolveHost } from '../src/egress/egress-guard.js';
import type { CallOutcome } from '../src/invoke/invoker.js';
import { AsyncMetrics } from '../src/metrics/async-metrics.js';
import { RouteTable } from '../src/routing/route-table.js';

/*
 * A callback the egress policy refuses when it connects (a name that rebinds to loopback after the
 * front door checked it) never arrives; the call record must say why, not only the log.
 */

const NOW = 1_800_000_000_000;

/** Answers the first lookup with a public address and every later one with loopback. */
function rebinding(): ResolveHost & { calls: number } {
  const resolve = async () => {
    const answer = resolve.calls === 0 ? '93.184.216.34' : '127.0.0.1';
    resolve.calls++;
    return [{ address: answer }];
  };
  resolve.calls = 0;
  return resolve;
}

function delivery(id: string, callbackUrl: string): BusMessage {
  const message = encodeCall(
    {
      id,
      namespace: 'default',
      function: 'job',
      method: 'POST',
      path: '/',
      headers: { 'x-call-id': id },
      body: Buffer.from('payload'),
      callbackUrl,
      acceptedAt: NOW - 1000,
    },
    id,
  );
  return {
    id,
    subject: message.subject,
    stream: 'NIMBUS_CALLS',
    streamSeq: 1,
    data: message.data,
    headers: message.options.headers ?? {},
    deliveryCount: 1,
    timestamp: NOW,
    lastAttempt: false,
    ack: async () => {},
    nak: () => {},
    term: () => {},
    working: () => {},
  };
}

describe('a callback refused at connect time is written into the call record', () => {
  let stores: Stores;
  let memoryBus: MemoryBus;
  let queue: CallQueue;
  let sender: CallbackSender;
  let resolver: ReturnType<typeof rebinding>;
  let guard: EgressGuard;
  let receiver: Server;
  let connections: number;
  let url: string;
  let answer: CallOutcome;
  const warnings: Record<string, unknown>[] = [];

  const workerWith = () =>
    new CallWorker(
      {
        calls: stores.calls,
        deadLetters: stores.deadLetters,
        queue,
        routes: (() => {
          const routes = new RouteTable();
          routes.upsert({ name: 'job', namespace: 'default', timeoutMs: 1000, concurrency: 1, auth: 'none' });
          return routes;
        })(),
        directory: {
          list: () => [],
          get: () => ({ spec: { async: { maxAttempts: 1 } } }) as never,
        },
        invoker: { call: async () => answer },
        callbacks: sender,
        metrics: new AsyncMetrics(new Registry()),
        readiness: { notReadyReason: () => undefined },
        log: createLogger({}, 'error'),
        now: () => NOW,
        random: () => 0,
        maxResultBytes: 1024 * 1024,
      },
      1,
    );
  const noted = (id: string) =>
    eventually(
      async () => {
        const record = await stores.calls.get(id);
        return record?.callbackError === undefined ? undefined : record;
      },
      5_000,
      `the callback error in record ${id}`,
    );

  beforeEach(async () => {
    stores = createMemoryStores({ clock: new ManualClock(NOW) });
    memoryBus = new MemoryBus();
    queue = new CallQueue(readAsyncConfig({}), createLogger({}, 'error'), memoryBus);
    queue.start();
    await eventually(() => (queue.unavailableReason() === undefined ? true : undefined), 5_000, 'the queue');
    connections = 0;
    receiver = createServer((_req, res) => res.end());
    receiver.on('connection', () => connections++);
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://rebind.attacker.example:${(receiver.address() as AddressInfo).port}/hook?sig=s3cret`;
    resolver = rebinding();
    // The cluster default: public addresses only.
    guard = new EgressGuard({
      config: readEgressConfig({}),
      platform: () => ({ endpoints: [], localPorts: new Set() }),
      resolve: resolver,
    });
    sender = new CallbackSender(
      { callbackAttempts: 3, callbackTimeoutMs: 2_000 },
      createLogger({}, 'warn', (line) => warnings.push(JSON.parse(line))),
      { clock: new ManualClock(NOW), egress: guard, records: stores.calls },
    );
    answer = {
      kind: 'response',
      status: 200,
      headers: {},
      body: Buffer.from('done'),
      size: 4,
      durationMs: 2,
    };
    warnings.length = 0;
  });

  afterEach(async () => {
    await sender.close();
    await queue.close();
    await memoryBus.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('a succeeded call: the record stays succeeded, with the refusal as its callbackError', async () => {
    // As the front door saw it: the name answered a public address, so the call was accepted.
    assert.equal(await guard.refusal(url), undefined);
    await stores.calls.create({
      id: 'c1',
      namespace: 'default',
      function: 'job',
      createdAt: NOW - 1000,
      callbackUrl: url,
    });
    await workerWith().handle(delivery('c1', url));
    const record = (await noted('c1')) as CallRecord;
    assert.equal(record.status, 'succeeded');
    assert.equal(record.result?.body, 'done', 'the result is kept as it was');
    assert.match(
      record.callbackError ?? '',
      /^refused to connect: rebind\.attacker\.example: 127\.0\.0\.1 port \d+ is a loopback address/,
    );
    assert.equal(connections, 0, 'the receiver behind the rebound name saw no connection');
    assert.equal(resolver.calls, 2, 'one lookup at the door, one at connect time, no retry');
    assert.equal(warnings.length, 1, 'and the log says it too');
  });

  it('a failed call: its lastError stays the function’s, the callbackError says why no callback came', async () => {
    answer = {
      kind: 'response',
      status: 500,
      headers: {},
      body: Buffer.from('boom'),
      size: 4,
      durationMs: 2,
    };
    await guard.refusal(url);
    await stores.calls.create({
      id: 'c2',
      namespace: 'default',
      function: 'job',
      createdAt: NOW - 1000,
      callbackUrl: url,
    });
    await workerWith().handle(delivery('c2', url));
    const record = (await noted('c2')) as CallRecord;
    assert.equal(record.status, 'failed');
    assert.match(record.lastError ?? '', /the function answered 500: boom/);
    assert.match(record.callbackError ?? '', /refused to connect: .* is a loopback address/);
    assert.equal(connections, 0);
  });

  it('a forged message whose URL never passed the door: refused without a lookup, noted', async () => {
    const forged = `http://user:pw@127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
    await stores.calls.create({ id: 'c3', namespace: 'default', function: 'job', createdAt: NOW - 1000 });
    await workerWith().handle(delivery('c3', forged));
    const record = (await noted('c3')) as CallRecord;
    assert.match(record.callbackError ?? '', /^refused: .*credentials/);
    assert.equal(resolver.calls, 0);
    assert.equal(connections, 0);
  });

  it('a streamed answer’s callback, refused while the call still runs, is noted on the running record', async () => {
    await stores.calls.create({
      id: 'c4',
      namespace: 'default',
      function: 'job',
      createdAt: NOW - 1000,
      status: 'running',
    });
    await guard.refusal(url);
    sender.send({
      url,
      callId: 'c4',
      outcome: 'succeeded',
      functionStatus: 200,
      durationMs: 1,
      contentType: 'text/plain',
      body: Buffer.from('large'),
    });
    const record = (await noted('c4')) as CallRecord;
    assert.equal(record.status, 'running', 'the worker still owns the status');
    assert.match(record.callbackError ?? '', /is a loopback address/);
  });
});
