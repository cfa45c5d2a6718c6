import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { EVENTS_STREAM, type JetStreamBus, triggerConsumerName } from '@nimbus/bus';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { admin } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats } from '../harness/nats.js';

/** Keeps the CloudEvents it receives; GET lists them. `?fail=1` in the data makes it answer 500. */
const RECORDER = `const seen = [];
export default async (event) => {
  if (event.method === 'GET') return { seen, pid: process.pid };
  const ce = event.cloudEvent;
  seen.push({ id: ce?.id, type: ce?.type, source: ce?.source, time: ce?.time, data: ce?.data });
  if (ce?.data && ce.data.fail) return { statusCode: 500, body: 'cannot take this one' };
  return { ok: true };
};`;

interface Seen {
  id: string;
  type: string;
  source: string;
  time: string;
  data: unknown;
}

const oneReplica = 'scale:\n  min: 1\n  max: 1';
const FIXTURES = {
  'orders.yaml': inlineFunction(
    'orders',
    RECORDER,
    `${oneReplica}\ntriggers:\n  - nats:\n      subject: shop.orders`,
  ),
  'audit.yaml': inlineFunction(
    'audit',
    RECORDER,
    `${oneReplica}\ntriggers:\n  - nats:\n      subject: shop.*`,
  ),
  'poison.yaml': inlineFunction(
    'poison',
    RECORDER,
    `${oneReplica}\ntriggers:\n  - nats:\n      subject: shop.poison\n      maxDeliver: 3\n      backoff: [100ms]`,
  ),
  'sleeper.yaml': inlineFunction(
    'sleeper',
    RECORDER,
    'scale:\n  min: 0\n  max: 1\ntriggers:\n  - nats:\n      subject: shop.wake',
  ),
  'ticker.yaml': inlineFunction(
    'ticker',
    RECORDER,
    `${oneReplica}\ntriggers:\n  - schedule:\n      cron: "* * * * * *"\n      body: '{"job":"tick"}'`,
  ),
};

describe('NATS triggers and cron schedules end to end: two local-mode gateways on one Redis and one NATS', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let nats: SecuredNats;
  /** The test's eyes on JetStream (admin), and an app publishing events (the publisher user). */
  let bus: JetStreamBus;
  let events: JetStreamBus;
  let dir: string;
  const platforms: LocalModeProcess[] = [];

  before(async () => {
    redis = await startRedisServer();
    nats = await startSecuredNats();
    dir = await functionsFolder(FIXTURES);
    for (let i = 0; i < 2; i++) {
      platforms.push(
        await LocalModeProcess.start(dir, {
          NIMBUS_REDIS_URL: redis.url,
          ...nats.env('local'),
          NIMBUS_WARM_POOL_SIZE: '0',
          // Functions with min 0 start at zero, so an event has something to wake.
          NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
          POD_NAME: `gateway-${i}`,
        }),
      );
    }
    bus = await nats.connect(TEST_ADMIN);
    events = await nats.connect('publisher');
    // The gateways make the events stream and the durables (local mode has no controller).
    await eventually(
      async () =>
        events.publish('shop.ready-check', new Uint8Array()).then(
          () => true,
          () => undefined,
        ),
      30_000,
      'the events stream',
    ).catch((err: Error) => {
      const warnings = platforms.flatMap((p) =>
        p.logs.filter((l) => l.level === 'warn' || l.level === 'error'),
      );
      throw new Error(`${err.message}; the gateways said: ${JSON.stringify(warnings).slice(0, 3000)}`);
    });
    // The durables start at new messages, so an event published before they exist is (rightly)
    // not delivered: wait for them, not only for the stream the gateways make first.
    for (const [fn, subject] of [
      ['orders', 'shop.orders'],
      ['audit', 'shop.*'],
    ] as const) {
      await eventually(
        async () =>
          (await bus.consumerInfo(EVENTS_STREAM, triggerConsumerName('default', fn, subject))) ?? undefined,
        30_000,
        `the durable of ${fn}`,
      );
    }
  });

  after(async function () {
    this.timeout(30_000);
    await bus?.close();
    await events?.close();
    await Promise.all(platforms.map((p) => p.stop()));
    await nats?.stop();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** What every replica of a function saw, over both gateways. */
  const seenBy = async (fn: string): Promise<Seen[]> => {
    const all: Seen[] = [];
    for (const p of platforms) {
      const reply = await send(p.url, `/function/${fn}`);
      assert.equal(reply.status, 200, reply.text);
      all.push(...reply.json<{ seen: Seen[] }>().seen);
    }
    return all;
  };

  it('a message on a subject reaches each function whose trigger listens there once, as a binary CloudEvent', async () => {
    const ack = await events.publish('shop.orders', new TextEncoder().encode('{"order":42}'), {
      msgId: 'order-42',
    });
    assert.equal(ack.duplicate, false);
    for (const fn of ['orders', 'audit']) {
      const [event, ...more] = await eventually(
        async () => {
          const seen = (await seenBy(fn)).filter((e) => e.id === 'order-42');
          return seen.length > 0 ? seen : undefined;
        },
        20_000,
        `${fn} to receive the event`,
      );
      assert.deepEqual(more, [], `${fn} received it once`);
      assert.equal(event?.type, 'shop.orders');
      assert.equal(event?.source, 'NIMBUS_EVENTS');
      assert.deepEqual(event?.data, { order: 42 });
      assert.ok(Date.parse(event?.time ?? '') > 0);
    }
  });

  it('an event for a function at zero wakes it, and is delivered once it is up', async () => {
    const woke = (p: LocalModeProcess) =>
      p.logs.some((l) => l.msg === 'scaling' && l.function === 'default/sleeper' && l.reason === 'wake');
    assert.equal(platforms.some(woke), false, 'at zero before the event');
    await events.publish('shop.wake', new TextEncoder().encode('{"hello":"sleeper"}'), { msgId: 'wake-1' });
    // Before anything else asks for it: only the event can have woken it.
    await eventually(() => (platforms.some(woke) ? true : undefined), 20_000, 'a wake of sleeper');
    const seen = await eventually(
      async () => {
        const all = (await seenBy('sleeper')).filter((e) => e.id === 'wake-1');
        return all.length > 0 ? all : undefined;
      },
      20_000,
      'sleeper to receive the event',
    );
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]?.data, { hello: 'sleeper' });
  });

  it('an event that keeps failing is tried maxDeliver times, then dead-lettered with its last error', async () => {
    await events.publish('shop.poison', new TextEncoder().encode('{"fail":true}'), { msgId: 'poison-1' });
    const letter = await eventually(
      async () => {
        const reply = await send(
          platforms[0]?.url ?? '',
          '/system/dead-letters?namespace=default&function=poison',
          {
            headers: admin,
          },
        );
        const entries = reply.json<{ entries: { id: string; lastError: string; attempts: number }[] }>()
          .entries;
        return entries[0];
      },
      30_000,
      'a dead letter for poison',
    );
    assert.equal(letter.attempts, 3);
    assert.match(letter.lastError, /500/);
    assert.equal((await seenBy('poison')).filter((e) => e.id === 'poison-1').length, 3, 'three attempts');
  });

  it('an every-second schedule fires each tick exactly once across both gateways, with its body as data', async () => {
    const ticks = await eventually(
      async () => {
        const seen = await seenBy('ticker');
        return seen.length >= 6 ? seen : undefined;
      },
      20_000,
      'six ticks',
    ).catch((err: Error) => {
      const said = platforms.flatMap((p) =>
        p.logs.filter((l) => /tick|schedul|cron/i.test(JSON.stringify(l))),
      );
      throw new Error(`${err.message}; the gateways said: ${JSON.stringify(said).slice(0, 3000)}`);
    });
    const ids = ticks.map((t) => t.id);
    assert.equal(new Set(ids).size, ids.length, `no tick fired twice: ${ids.join(', ')}`);
    const seconds = ticks.map((t) => Date.parse(t.time) / 1000).sort((a, b) => a - b);
    for (let i = 1; i < seconds.length; i++)
      assert.equal((seconds[i] ?? 0) - (seconds[i - 1] ?? 0), 1, 'one tick a second, none skipped');
    assert.deepEqual(ticks[0]?.data, { job: 'tick' });
    assert.equal(ticks[0]?.type, 'dev.nimbus.schedule.tick');
  });

  it('needed nothing its least-privilege NATS user is denied', () => {
    assert.deepEqual(nats.violations(), []);
  });
});
