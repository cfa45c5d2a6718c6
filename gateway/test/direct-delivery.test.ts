import assert from 'node:assert/strict';
import { type ResolvedSource, createLogger } from '@nimbus/api';
import type { SourceEvent } from '@nimbus/sources';
import { createMemoryStores } from '@nimbus/store';
import { ManualClock, eventually } from '@nimbus/testkit';
import type { Ending } from '../src/destinations/outcome-event.js';
import type { BufferedRequest } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { DeliveryStoppedError, DirectDelivery } from '../src/sources/direct-delivery.js';
import { answer as replied } from './delivery-outcomes.js';

const quiet = createLogger({}, 'error', () => {});

const source: ResolvedSource<'rabbitmq'> = {
  namespace: 'shop',
  function: 'jobs',
  name: 'queue',
  kind: 'rabbitmq',
  spec: { connection: { name: 'broker', key: 'url' }, queue: 'jobs' },
  maxDeliver: 3,
  backoffMs: [1_000, 5_000],
  concurrency: 4,
};

const event = (id: string): SourceEvent => ({
  id,
  type: 'dev.nimbus.rabbitmq.message',
  source: 'amqp://127.0.0.1:5672/%2F#jobs',
  subject: 'jobs',
  time: 1_800_000_000_000,
  contentType: 'application/json',
  data: new TextEncoder().encode('{"job":1}'),
});

const answer = (status: number) => replied(status, status === 200 ? 'done' : 'nope');

describe('DirectDelivery: an event straight from a queue, with the trigger’s attempts, backoff and dead letters', () => {
  let clock: ManualClock;
  let statuses: number[];
  let calls: BufferedRequest[];
  let endings: Ending[];
  let delivery: DirectDelivery;
  const stores = createMemoryStores();

  beforeEach(() => {
    clock = new ManualClock(1_800_000_000_000);
    statuses = [];
    calls = [];
    endings = [];
    const routes = new RouteTable();
    routes.upsert({ name: 'jobs', namespace: 'shop', timeoutMs: 1000, concurrency: 1, auth: 'none' });
    delivery = new DirectDelivery({
      routes,
      invoker: {
        call: async (_, request) => {
          calls.push(request);
          return answer(statuses.shift() ?? 200);
        },
      },
      deadLetters: stores.deadLetters,
      clock,
      log: quiet,
      destinations: { ended: async (e) => void endings.push(e) },
    });
  });

  it('a 2xx settles it at once, as a binary CloudEvent, and its success goes to the destinations', async () => {
    assert.equal(await delivery.deliver(source, event('m-1'), 1), 'delivered');
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.headers['ce-id'], 'm-1');
    assert.equal(calls[0]?.headers['ce-type'], 'dev.nimbus.rabbitmq.message');
    assert.equal(endings[0]?.outcome.kind, 'succeeded');
  });

  it('failures wait the backoff on the clock, then the dead letter holds the last error and the failure goes on', async () => {
    statuses = [500, 503, 502];
    const settled = delivery.deliver(source, event('m-2'), 1);
    await eventually(async () => (calls.length === 1 ? true : undefined), 2_000, 'the first attempt');
    clock.advance(999);
    await Promise.resolve();
    assert.equal(calls.length, 1, 'not before the first backoff step');
    clock.advance(1);
    await eventually(async () => (calls.length === 2 ? true : undefined), 2_000, 'the second attempt');
    clock.advance(5_000);
    assert.equal(await settled, 'dead-lettered');
    assert.equal(calls.length, 3);
    const [letter] = (await stores.deadLetters.list({ namespace: 'shop', function: 'jobs' })).entries;
    assert.equal(letter?.attempts, 3);
    assert.match(letter?.lastError ?? '', /attempt 3: the function answered 502/);
    assert.deepEqual(
      endings.map((e) => e.outcome.kind),
      ['failed'],
    );
  });

  it('counts attempts from what the origin knows: a redelivered message has fewer left', async () => {
    statuses = [500];
    assert.equal(await delivery.deliver(source, event('m-3'), 3), 'dead-lettered');
    assert.equal(calls.length, 1);
  });

  it('stopping ends a wait between attempts with a rejection, so the origin keeps the message', async () => {
    statuses = [500];
    const settled = delivery.deliver(source, event('m-4'), 1);
    await eventually(async () => (calls.length === 1 ? true : undefined), 2_000, 'the first attempt');
    delivery.stop();
    await assert.rejects(settled, DeliveryStoppedError);
    assert.equal(endings.length, 0, 'no outcome for an event not settled');
  });
});
