import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, sourceTriggersOf, validateFunction } from '@nimbus/api';
import {
  BusUnavailableError,
  JetStreamBus,
  SOURCES_STREAM,
  sourceConsumerName,
  sourceSubject,
} from '@nimbus/bus';
import { type RedisStores, createRedisStores } from '@nimbus/store';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import type { CallOutcome } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TriggerWorker } from '../src/triggers/trigger-worker.js';

const quiet = createLogger(
  {},
  process.env.DEBUG_ORDER ? 'info' : 'error',
  process.env.DEBUG_ORDER ? undefined : () => {},
);

/** A Function with one Postgres trigger at its default concurrency (1: in order). */
function fn(name: string, attempts = { maxDeliver: 3, backoff: ['500ms'] }): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'shop' },
    spec: {
      source: { inline: 'export default () => 1' },
      triggers: [
        {
          name: 'db',
          postgres: {
            connection: { name: 'shop-db', key: 'url' },
            tables: ['public.orders'],
            ...attempts,
          },
        },
      ],
    },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const ok: CallOutcome = {
  kind: 'response',
  status: 200,
  headers: {},
  body: Buffer.from('ok'),
  size: 2,
  durationMs: 1,
};
const refused: CallOutcome = { ...ok, status: 500, body: Buffer.from('no'), size: 2 };

interface Call {
  readonly worker: string;
  readonly id: string;
  readonly at: number;
}

/**
 * The order guarantee, seen from the function: no event starts before every event stored before it
 * has started at least once (a repeat of an earlier one, same ce-id, may come after a handover).
 */
function assertInOrder(calls: readonly Call[], count: number): void {
  let reached = -1;
  for (const call of calls) {
    const n = Number(call.id.slice(1));
    assert.ok(
      n <= reached + 1,
      `${call.id} ran before e${reached + 1} (calls: ${calls.map((c) => c.id).join(' ')})`,
    );
    reached = Math.max(reached, n);
  }
  assert.equal(reached, count - 1, 'every event ran');
}

describe('ordered source triggers: one gateway at a time, a window delivered one after another (real NATS and Redis)', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let redis: RedisServer;
  let stores: RedisStores;
  const buses: JetStreamBus[] = [];
  const workers: TriggerWorker[] = [];

  before(async () => {
    [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
    stores = createRedisStores(redis.url);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  after(async () => {
    await stores.close();
    await Promise.all([nats.stop(), redis.stop()]);
  });

  /** A gateway's trigger worker on a connection of its own; `answer` says how the function replies. */
  async function gateway(
    worker: string,
    function_: FunctionResource,
    calls: Call[],
    answer: (id: string) => Promise<CallOutcome>,
  ): Promise<TriggerWorker> {
    const bus = await JetStreamBus.connect({ servers: nats.url });
    buses.push(bus);
    const routes = new RouteTable();
    routes.upsert({
      name: function_.metadata.name,
      namespace: 'shop',
      timeoutMs: 5000,
      concurrency: 1,
      auth: 'none',
    });
    const triggers = new TriggerWorker({
      directory: { list: () => [function_], get: () => undefined },
      routes,
      invoker: {
        call: async (_route, request) => {
          const id = request.headers['ce-id'] ?? '?';
          calls.push({ worker, id, at: Date.now() });
          return answer(id);
        },
      },
      bus: async () => bus,
      deadLetters: stores.deadLetters,
      manageTopology: true,
      concurrency: 16,
      syncMs: 100,
      log: quiet,
      now: Date.now,
      leases: stores.claims,
      owner: worker,
    });
    workers.push(triggers);
    triggers.start();
    return triggers;
  }

  /** Stores `count` events on the trigger's subject as a reader would, ids e0, e1, … */
  async function store(function_: FunctionResource, count: number): Promise<void> {
    const [source] = sourceTriggersOf(function_);
    assert.ok(source !== undefined);
    const bus = await JetStreamBus.connect({ servers: nats.url });
    try {
      await eventually(
        async () => (await bus.consumerInfo(SOURCES_STREAM, sourceConsumerName(source))) !== undefined,
        10_000,
        'the durable made by the worker',
      );
      for (let n = 0; n < count; n++) {
        const publish = () =>
          bus.publish(sourceSubject(source), Buffer.from(JSON.stringify({ n })), {
            msgId: `${function_.metadata.name}-e${n}`,
            headers: {
              'ce-id': `e${n}`,
              'ce-type': 'dev.nimbus.postgres.insert',
              'ce-source': 'postgres://db',
            },
          });
        // As a reader does: a stream that does not answer yet (a CI run saw 503 while the worker's
        // topology settled) is tried again; the message id keeps a retry from storing it twice.
        await eventually(
          () =>
            publish().then(
              () => true,
              (err: unknown) => (err instanceof BusUnavailableError ? undefined : Promise.reject(err)),
            ),
          10_000,
          `e${n} stored`,
        );
      }
    } finally {
      await bus.close();
    }
  }

  const settled = (function_: FunctionResource) =>
    eventually(
      async () => {
        const [source] = sourceTriggersOf(function_);
        const bus = buses[0];
        if (source === undefined || bus === undefined) return undefined;
        const info = await bus.consumerInfo(SOURCES_STREAM, sourceConsumerName(source));
        return info !== undefined && info.pending === 0 && info.ackPending === 0 ? info : undefined;
      },
      30_000,
      'every event settled',
    );

  it('keeps stream order over a window: a failing event is retried in place, dead-lettered, then the rest go on in order', async () => {
    const orders = fn('orders');
    const calls: Call[] = [];
    const pause = () => new Promise((resolve) => setImmediate(resolve));
    await gateway('a', orders, calls, async (id) => {
      await pause();
      return id === 'e10' ? refused : ok;
    });
    await store(orders, 60);
    await settled(orders);
    const ids = calls.map((c) => c.id);
    const expected = Array.from({ length: 60 }, (_, n) => `e${n}`);
    expected.splice(10, 0, 'e10', 'e10');
    assert.deepEqual(ids, expected, 'e10 three times in place, every other event once, in stream order');
    const tries = calls.filter((c) => c.id === 'e10').map((c) => c.at);
    assert.ok((tries[1] ?? 0) - (tries[0] ?? 0) >= 450, 'the retry waited out the backoff');
    const dead = await eventually(
      async () => (await stores.deadLetters.list({ namespace: 'shop', function: 'orders' })).entries[0],
      5_000,
      'the dead letter of e10',
    );
    assert.equal(dead.attempts, 3);
    assert.match(dead.lastError, /500/);
    assert.equal(dead.request.headers['ce-id'], 'e10');
  });

  it('a backoff shorter than the ack delay: events around a poison one arrive once, in order', async () => {
    // JetStream's ack wait is the first backoff step (100 ms): an ack held back must still land in it.
    const parcels = fn('parcels', { maxDeliver: 2, backoff: ['100ms'] });
    const calls: Call[] = [];
    await gateway('a', parcels, calls, async (id) => (id === 'e1' ? refused : ok));
    await store(parcels, 3);
    await settled(parcels);
    assert.deepEqual(
      calls.map((c) => c.id),
      ['e0', 'e1', 'e1', 'e2'],
    );
  });

  it('two gateways on one ordered trigger: only the lease holder delivers, in order', async () => {
    const items = fn('items');
    const calls: Call[] = [];
    const answer = async () => ok;
    await Promise.all([gateway('a', items, calls, answer), gateway('b', items, calls, answer)]);
    await store(items, 100);
    await settled(items);
    assertInOrder(calls, 100);
    assert.equal(calls.length, 100, 'each event once');
    assert.equal(new Set(calls.map((c) => c.worker)).size, 1, 'one gateway delivered them all');
  });

  it('the holder stopped mid-window loses nothing: the other gateway goes on, in order', async () => {
    const carts = fn('carts');
    const calls: Call[] = [];
    const slow = () => new Promise<CallOutcome>((resolve) => setTimeout(() => resolve(ok), 5));
    const [a, b] = await Promise.all([gateway('a', carts, calls, slow), gateway('b', carts, calls, slow)]);
    await store(carts, 120);
    await eventually(() => calls.length >= 30 || undefined, 20_000, '30 events delivered');
    const holder = calls[0]?.worker === 'a' ? a : b;
    await holder.stop();
    const stoppedAt = calls.length;
    await settled(carts);
    await eventually(
      () => new Set(calls.map((c) => c.id)).size === 120 || undefined,
      20_000,
      'all 120 events',
    );
    assertInOrder(calls, 120);
    const after = new Set(calls.slice(stoppedAt).map((c) => c.worker));
    assert.deepEqual([...after], [calls[0]?.worker === 'a' ? 'b' : 'a'], 'the other gateway took over');
    assert.ok(stoppedAt < 120, 'the holder stopped with events still to deliver');
  });
});
