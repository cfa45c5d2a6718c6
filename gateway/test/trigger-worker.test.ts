import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { EVENTS_STREAM, MemoryBus, type MessageBus } from '@nimbus/bus';
import { createMemoryStores } from '@nimbus/store';
import { eventually } from '@nimbus/testkit';
import type { BufferedRequest, CallOutcome } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TriggerWorker, eventRequest } from '../src/triggers/trigger-worker.js';

const quiet = createLogger({}, 'error', () => {});

function fn(name: string, subject: string, maxDeliver: number): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'shop' },
    spec: {
      source: { inline: 'export default () => 1' },
      triggers: [{ nats: { subject, maxDeliver, backoff: ['10ms'] } }],
    },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const answer = (status: number, body = ''): CallOutcome => ({
  kind: 'response',
  status,
  headers: {},
  body: Buffer.from(body),
  size: Buffer.byteLength(body),
  durationMs: 1,
});

describe('TriggerWorker: NATS events become invocations, acked, retried or dead-lettered', function () {
  this.timeout(10_000);
  let bus: MessageBus;
  let worker: TriggerWorker;
  const stores = createMemoryStores();
  const routes = new RouteTable();
  const calls: [string, BufferedRequest][] = [];
  const statuses = new Map<string, number>([
    ['orders', 200],
    ['broken', 500],
  ]);
  const functions = [
    fn('orders', 'shop.orders', 3),
    fn('broken', 'shop.broken', 2),
    fn('ghost', 'shop.ghost', 2),
  ];

  before(async () => {
    bus = new MemoryBus();
    // orders and broken have routes here; ghost is a Function this gateway has no route for.
    for (const name of ['orders', 'broken'])
      routes.upsert({ name, namespace: 'shop', timeoutMs: 1000, concurrency: 1, auth: 'none' });
    worker = new TriggerWorker({
      directory: { list: () => functions, get: () => undefined },
      routes,
      invoker: {
        call: async (route, request) => {
          calls.push([route.name, request]);
          return answer(statuses.get(route.name) ?? 200, 'nope');
        },
      },
      bus: async () => bus,
      deadLetters: stores.deadLetters,
      leases: stores.claims,
      owner: 'test-gateway',
      manageTopology: true,
      concurrency: 4,
      syncMs: 60_000,
      log: quiet,
      now: () => 1_800_000_000_000,
    });
    await worker.sync();
  });

  after(async () => {
    await worker.stop();
    await bus.close();
  });

  const letter = (name: string) =>
    eventually(
      async () => (await stores.deadLetters.list({ namespace: 'shop', function: name })).entries[0],
      5_000,
      `a dead letter for ${name}`,
    );

  it('a 2xx acks the event: delivered once, as a binary CloudEvent POST', async () => {
    await bus.publish('shop.orders', new TextEncoder().encode('{"id":7}'), { msgId: 'order-7' });
    const [name, request] = await eventually(
      () => calls.find(([n]) => n === 'orders'),
      5_000,
      'the orders invocation',
    );
    assert.equal(name, 'orders');
    assert.equal(request.method, 'POST');
    assert.equal(request.headers['ce-id'], 'order-7');
    assert.equal(request.headers['ce-type'], 'shop.orders');
    assert.equal(request.headers['ce-source'], EVENTS_STREAM);
    assert.equal(request.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(Buffer.from(request.body).toString('utf8')), { id: 7 });
    const info = await eventually(
      async () => {
        const consumers = await bus.listConsumers(EVENTS_STREAM);
        const orders = consumers.find((c) => c.config.filterSubject === 'shop.orders');
        return orders !== undefined && orders.ackPending === 0 && orders.pending === 0 ? orders : undefined;
      },
      5_000,
      'the event acked',
    );
    assert.equal(info.ackPending, 0);
    assert.equal(calls.filter(([n]) => n === 'orders').length, 1);
  });

  it('a failing function is tried maxDeliver times, then dead-lettered with its last error', async () => {
    await bus.publish('shop.broken', new TextEncoder().encode('x'), { msgId: 'broken-1' });
    const dead = await letter('broken');
    assert.equal(dead.attempts, 2);
    assert.match(dead.lastError, /answered 500/);
    assert.equal(dead.request.headers['ce-id'], 'broken-1');
    assert.equal(calls.filter(([n]) => n === 'broken').length, 2);
  });

  it('an event for a function this gateway does not know is retried later, not at once, then dead-lettered', async () => {
    const sent = Date.now();
    await bus.publish('shop.ghost', new TextEncoder().encode('boo'), { msgId: 'ghost-1' });
    const dead = await letter('ghost');
    assert.ok(Date.now() - sent >= 900, 'the retry waited about a second');
    assert.match(dead.lastError, /not known to this gateway/);
    assert.equal(
      calls.some(([n]) => n === 'ghost'),
      false,
    );
  });

  it('eventRequest: bytes that are not JSON go as application/octet-stream, a given content type wins, traceparent passes', () => {
    const base = {
      id: 'm-1',
      subject: 'a.b',
      stream: EVENTS_STREAM,
      streamSeq: 1,
      timestamp: 0,
      deliveryCount: 1,
      lastAttempt: false,
      ack: async () => {},
      nak: () => {},
      term: () => {},
      working: () => {},
    };
    const bytes = eventRequest({ ...base, data: new Uint8Array([0xff, 0x00]), headers: {} });
    assert.equal(bytes.headers['content-type'], 'application/octet-stream');
    const given = eventRequest({
      ...base,
      data: new TextEncoder().encode('{}'),
      headers: { 'Content-Type': 'text/plain', traceparent: '00-abc-def-01' },
    });
    assert.equal(given.headers['content-type'], 'text/plain');
    assert.equal(given.headers.traceparent, '00-abc-def-01');
    assert.equal(given.headers['ce-time'], '1970-01-01T00:00:00.000Z');
  });
});
