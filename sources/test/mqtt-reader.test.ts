import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { systemClock } from '@nimbus/api';
import {
  ManualClock,
  type MosquittoServer,
  eventually,
  startMosquittoServer,
  stopChild,
} from '@nimbus/testkit';
import type { MqttClient } from 'mqtt';
import type { SourceReader } from '../src/index.js';
import { MQTT_MESSAGE_TYPE, MQTT_RECONNECT, mqttSource } from '../src/mqtt/index.js';
import {
  MemoryCheckpoint,
  RecordingSink,
  mqttTrigger,
  publisher,
  readerContext,
} from './support/mqtt-fixtures.js';

const START = Date.UTC(2026, 0, 2, 3, 4, 5);

describe('mqtt source: the reader on a real mosquitto', function () {
  this.timeout(60_000);
  let broker: MosquittoServer;
  let pub: MqttClient;
  const readers: SourceReader[] = [];

  before(async () => {
    broker = await startMosquittoServer();
    pub = await publisher(broker.url);
  });
  after(async () => {
    await pub?.endAsync(true);
    await broker?.stop();
  });
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.stop()));
  });

  /** Starts a reader of `topics` under trigger `name` and waits until it is subscribed. */
  async function startReader(
    name: string,
    topics: string[],
    sink: RecordingSink,
    clock = systemClock,
    checkpoint = new MemoryCheckpoint(),
  ) {
    const context = readerContext(mqttTrigger({ topics }, name), broker.url, sink, clock, [], checkpoint);
    const reader = mqttSource.reader?.(context);
    assert.ok(reader);
    readers.push(reader);
    reader.start();
    await eventually(() => (sink.last?.connected ? true : undefined), 10_000, `reader ${name} subscribed`);
    return reader;
  }

  async function stopReader(reader: SourceReader) {
    readers.splice(readers.indexOf(reader), 1);
    await reader.stop();
  }

  it('turns messages on topics that match + and # filters into events, and no others', async () => {
    const sink = new RecordingSink();
    const clock = new ManualClock(START);
    await startReader('filters', ['f/sensors/+/temp', 'f/alerts/#'], sink, clock);
    const sent: [string, string | Buffer, object?][] = [
      ['f/sensors/kitchen/temp', '{"c":21.5}'],
      ['f/sensors/kitchen/humidity', 'no: not temp'],
      ['f/sensors/a/b/temp', 'no: + is one level'],
      ['f/alerts', 'bare: # matches the parent level too'],
      ['f/alerts/fire/floor2', Buffer.from([0xff, 0x00, 0x01])],
      ['f/other/x', 'no'],
      ['f/alerts/typed', 'a,b', { properties: { contentType: 'text/csv' } }],
      ['f/alerts/end', 'end'],
    ];
    for (const [topic, payload, options] of sent)
      await pub.publishAsync(topic, payload, { qos: 1, ...options });
    await eventually(() => (sink.payloads().includes('end') ? true : undefined), 10_000, 'the last message');
    assert.deepEqual(
      sink.events.map((e) => e.subject),
      ['f/sensors/kitchen/temp', 'f/alerts', 'f/alerts/fire/floor2', 'f/alerts/typed', 'f/alerts/end'],
    );
    const [json, bare, binary, typed] = sink.events;
    assert.equal(json?.type, MQTT_MESSAGE_TYPE);
    assert.equal(json?.source, broker.url);
    assert.equal(json?.time, START);
    assert.equal(json?.contentType, 'application/json');
    assert.deepEqual(json?.extensions, { topic: 'f/sensors/kitchen/temp', qos: '1' });
    assert.equal(bare?.contentType, 'application/octet-stream');
    assert.deepEqual(Buffer.from(binary?.data ?? []), Buffer.from([0xff, 0x00, 0x01]));
    assert.equal(typed?.contentType, 'text/csv');
    assert.equal(new Set(sink.events.map((e) => e.id)).size, sink.events.length, 'ids differ');
  });

  it('marks a retained message, and does not give it again on every reconnect', async () => {
    await pub.publishAsync('r/state', 'on', { qos: 1, retain: true });
    const sink = new RecordingSink();
    const first = await startReader('retained', ['r/#'], sink);
    await eventually(() => (sink.events.length === 1 ? true : undefined), 10_000, 'the retained message');
    assert.equal(sink.events[0]?.extensions?.retain, 'true');
    await stopReader(first);
    await startReader('retained', ['r/#'], sink);
    await pub.publishAsync('r/next', 'next', { qos: 1 });
    await eventually(() => (sink.payloads().includes('next') ? true : undefined), 10_000, 'the next message');
    assert.deepEqual(sink.payloads(), ['on', 'next']);
    await pub.publishAsync('r/state', '', { qos: 1, retain: true }); // clears it for the other tests
  });

  it('a QoS 0 trigger takes messages at most once, each with an id of its own', async () => {
    const sink = new RecordingSink();
    const reader = mqttSource.reader?.(
      readerContext(mqttTrigger({ topics: ['z/#'], qos: 0 }, 'qos0'), broker.url, sink, systemClock),
    );
    assert.ok(reader);
    readers.push(reader);
    reader.start();
    await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'subscribed');
    for (const _ of [1, 2]) await pub.publishAsync('z/same', 'same', { qos: 1 });
    await eventually(() => (sink.events.length === 2 ? true : undefined), 10_000, 'both');
    assert.deepEqual(
      sink.events.map((e) => e.extensions?.qos),
      ['0', '0'],
    );
    assert.notEqual(sink.events[0]?.id, sink.events[1]?.id);
  });

  it('a filter dropped from the trigger (or now covered by a wider one) is unsubscribed from the session', async () => {
    const checkpoint = new MemoryCheckpoint();
    const first = await startReader(
      'edited',
      ['e/old/#', 'e/keep', 'e/wide/+'],
      new RecordingSink(),
      systemClock,
      checkpoint,
    );
    await stopReader(first);
    const sink = new RecordingSink();
    // e/wide/+ is inside e/wide/#: left subscribed, each message on it would come twice.
    await startReader('edited', ['e/keep', 'e/wide/#'], sink, systemClock, checkpoint);
    for (const topic of ['e/old/x', 'e/wide/a', 'e/keep']) await pub.publishAsync(topic, topic, { qos: 1 });
    await eventually(() => (sink.payloads().includes('e/keep') ? true : undefined), 10_000, 'the last one');
    assert.deepEqual(sink.payloads(), ['e/wide/a', 'e/keep']);
  });

  it('a message over the maximum packet size never reaches the gateway, and reading goes on', async () => {
    const sink = new RecordingSink();
    await startReader('big', ['big/#'], sink);
    await pub.publishAsync('big/huge', Buffer.alloc(2 * 1024 * 1024, 0x61), { qos: 1 });
    await pub.publishAsync('big/small', 'small', { qos: 1 });
    await eventually(() => (sink.payloads().includes('small') ? true : undefined), 10_000, 'the small one');
    assert.deepEqual(sink.payloads(), ['small']);
    assert.equal(sink.last?.connected, true);
  });

  it('delivers what was published while it was stopped (persistent session), and once acknowledged never again', async () => {
    const sink = new RecordingSink();
    const reader = await startReader('offline', ['o/#'], sink);
    await pub.publishAsync('o/1', 'before', { qos: 1 });
    await eventually(() => (sink.events.length === 1 ? true : undefined), 10_000, 'the first message');
    await stopReader(reader);
    for (const n of [1, 2, 3]) await pub.publishAsync(`o/${n}`, `while away ${n}`, { qos: 1 });
    const later = new RecordingSink();
    await startReader('offline', ['o/#'], later);
    await eventually(() => (later.events.length >= 3 ? true : undefined), 10_000, 'the queued messages');
    // "before" was PUBACKed by the first reader: the session does not hold it any more.
    assert.deepEqual(later.payloads(), ['while away 1', 'while away 2', 'while away 3']);
  });

  it('withholds the PUBACK until the store resolved: a reader killed before then leaves the message to the next', async () => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('./support/mqtt-reader-child.js', import.meta.url)), broker.url, 'k/#'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    try {
      await eventually(() => (out.includes('connected') ? true : undefined), 10_000, 'the child reader');
      await pub.publishAsync('k/order', 'order 7', { qos: 1 });
      const seen = await eventually(
        () => /storing (\S+) order 7/.exec(out)?.[1],
        10_000,
        'the child to store it',
      );
      // Killed mid-store: no PUBACK went out, so the broker still holds the message for the session.
      child.kill('SIGKILL');
      await stopChild(child);
      const sink = new RecordingSink();
      await startReader('readings', ['k/#'], sink);
      await eventually(() => (sink.events.length === 1 ? true : undefined), 10_000, 'the message again');
      assert.equal(sink.payloads()[0], 'order 7');
      assert.equal(sink.events[0]?.id, seen, 'a redelivery has the same id, so JetStream stores it once');
    } finally {
      await stopChild(child);
    }
  });

  it('stop settles a store under way and PUBACKs it, takes nothing new, and keeps the session', async () => {
    const sink = new RecordingSink();
    let release: () => void = () => {};
    sink.storeWith = () =>
      new Promise<void>((resolve) => {
        release = resolve;
      });
    const reader = await startReader('stopping', ['st/#'], sink);
    await pub.publishAsync('st/1', 'in flight', { qos: 1 });
    await eventually(() => (sink.attempts.length === 1 ? true : undefined), 10_000, 'the store to start');
    let stopped = false;
    const stopping = stopReader(reader).then(() => {
      stopped = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(stopped, false, 'stop waits for the store');
    await pub.publishAsync('st/2', 'while stopping', { qos: 1 });
    release();
    await stopping;
    assert.deepEqual(
      sink.attempts.map((e) => Buffer.from(e.data).toString()),
      ['in flight'],
    );
    const next = new RecordingSink();
    await startReader('stopping', ['st/#'], next);
    await eventually(
      () => (next.events.length > 0 ? true : undefined),
      10_000,
      'the message left to the broker',
    );
    await pub.publishAsync('st/3', 'after', { qos: 1 });
    await eventually(
      () => (next.payloads().includes('after') ? true : undefined),
      10_000,
      'the next message',
    );
    assert.deepEqual(next.payloads(), ['while stopping', 'after']);
  });

  it('a store that fails leaves the message unacknowledged; it comes again after a backoff on the clock', async () => {
    const sink = new RecordingSink();
    const clock = new ManualClock(START);
    let refuse = true;
    sink.storeWith = async (event) => {
      if (refuse && Buffer.from(event.data).toString() === 'x') throw new Error('JetStream unavailable');
    };
    await startReader('refused', ['x/#'], sink, clock);
    await pub.publishAsync('x/a', 'x', { qos: 1 });
    await pub.publishAsync('x/b', 'y', { qos: 1 });
    await eventually(
      () => (sink.last?.connected === false ? sink.last : undefined),
      10_000,
      'the reader to drop the connection',
    );
    assert.match(sink.last?.lastError ?? '', /storing a message failed: JetStream unavailable/);
    // The reconnect waits for the clock.
    assert.equal(clock.pending, 1);
    const firstTry = sink.attempts.map((e) => e.id);
    refuse = false;
    clock.advance(MQTT_RECONNECT.baseMs);
    await eventually(
      () => (['x', 'y'].every((p) => sink.payloads().includes(p)) ? true : undefined),
      10_000,
      'x and y stored',
    );
    await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'connected again');
    assert.equal(sink.last?.lastError, undefined);
    // What the first connection took came again, in order, with the ids it had ("y", if it came,
    // was stored but waited for "x" to be acknowledged), so JetStream keeps one copy of each.
    const again = sink.attempts.slice(firstTry.length).map((e) => e.id);
    assert.deepEqual(again.slice(0, firstTry.length), firstTry);
    assert.equal(sink.events.filter((e) => Buffer.from(e.data).toString() === 'x').length, 1);
  });

  it('the broker restarted mid-stream: every QoS 1 message the broker acknowledged is delivered at least once', async () => {
    const sink = new RecordingSink();
    await startReader('restart', ['s/#'], sink);
    const acked: string[] = [];
    const total = 400;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        const payload = `m${i}`;
        try {
          await withDeadline(pub.publishAsync(`s/${i % 7}`, payload, { qos: 1 }), 2_000);
          acked.push(payload);
        } catch {
          // not acknowledged: the broker promised nothing for it
        }
      }
    })();
    await eventually(() => (acked.length >= 100 ? true : undefined), 10_000, '100 messages published');
    await broker.restart();
    await publishing;
    const down = sink.health.find((h) => !h.connected);
    assert.match(down?.lastError ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+: /, 'the outage shows in health');
    assert.ok(acked.length > 200, `only ${acked.length} acknowledged`);
    await eventually(
      () => {
        const got = new Set(sink.payloads());
        return acked.every((p) => got.has(p)) ? true : undefined;
      },
      30_000,
      'every acknowledged message',
    );
  });
});

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
