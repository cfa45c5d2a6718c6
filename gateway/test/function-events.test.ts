import assert from 'node:assert/strict';

import { ConfigError } from '@nimbus/api';
import { type BusMessage, EVENTS_STREAM, MemoryBus, eventsStreamConfig } from '@nimbus/bus';
import { eventually } from '@nimbus/testkit';
import { SEAL_HEADER, openSeal } from '../src/events/event-seal.js';
import { readEventsConfig } from '../src/events/events-config.js';
import { eventOf } from '../src/events/events-endpoint.js';
import { FunctionEvents, PublishRefusedError, checkPublishSubject } from '../src/events/function-events.js';

const config = readEventsConfig({ NIMBUS_STATE_KEY: 'k'.repeat(40), NIMBUS_EVENT_MAX_BYTES: '1024' });
const alpha = { namespace: 'team', name: 'alpha' };

/** A bus with the events stream over `orders.>` and one durable that keeps what comes. */
async function eventsBus(): Promise<{ bus: MemoryBus; seen: BusMessage[] }> {
  const bus = new MemoryBus();
  const stream = eventsStreamConfig(['orders.>']);
  assert.ok(stream !== undefined);
  await bus.ensureStream(stream);
  await bus.ensureConsumer({ stream: EVENTS_STREAM, name: 'probe', filterSubject: 'orders.>' });
  const seen: BusMessage[] = [];
  bus.consume(EVENTS_STREAM, 'probe', async (message) => {
    seen.push(message);
    await message.ack();
  });
  return { bus, seen };
}

describe('ctx.publish in the gateway: settings', () => {
  it('take the limits, the state key as the seal key, and a NATS user of their own', () => {
    const env = {
      NIMBUS_NATS_URL: 'nats://127.0.0.1:4222',
      NIMBUS_STATE_KEY: 's'.repeat(40),
      NIMBUS_NATS_EVENTS_USER: 'nimbus-publisher',
      NIMBUS_NATS_EVENTS_PASSWORD: 'pw',
    };
    const read = readEventsConfig(env);
    assert.deepEqual(
      [read.maxDataBytes, read.maxHops, read.sealKey, read.natsCredentials],
      [256 * 1024, 8, 's'.repeat(40), { user: 'nimbus-publisher', pass: 'pw' }],
    );
    assert.notEqual(
      readEventsConfig({}).sealKey,
      readEventsConfig({}).sealKey,
      'without a state key, one of its own',
    );
  });

  const bad: [string, Record<string, string>, string][] = [
    [
      'a user without a password',
      { NIMBUS_NATS_URL: 'nats://n:4222', NIMBUS_NATS_EVENTS_USER: 'u' },
      'NIMBUS_NATS_EVENTS_PASSWORD',
    ],
    [
      'a user without NATS',
      { NIMBUS_NATS_EVENTS_USER: 'u', NIMBUS_NATS_EVENTS_PASSWORD: 'p' },
      'NIMBUS_NATS_EVENTS_USER',
    ],
    [
      'a data limit over 1 MiB',
      { NIMBUS_EVENT_MAX_BYTES: String(2 * 1024 * 1024) },
      'NIMBUS_EVENT_MAX_BYTES',
    ],
    ['a hop bound of 0', { NIMBUS_DESTINATION_MAX_HOPS: '0' }, 'NIMBUS_DESTINATION_MAX_HOPS'],
  ];
  for (const [what, env, key] of bad)
    it(`refuse ${what}, naming ${key}`, () => {
      assert.throws(
        () => readEventsConfig(env),
        (err: unknown) => err instanceof ConfigError && err.key === key,
      );
    });
});

describe('ctx.publish in the gateway: subjects a function may use', () => {
  const refused: [string, number][] = [
    ['nimbus.calls.team.beta', 403],
    ['nimbus.dlq.team.beta', 403],
    ['nimbus.anything', 403],
    ['$JS.API.STREAM.DELETE.NIMBUS_CALLS', 403],
    ['$SYS.REQ.SERVER.PING', 403],
    ['$KV.bucket.key', 403],
    ['_INBOX.abc', 403],
    ['orders.*', 400],
    ['orders.>', 400],
    ['nimbus.>', 403],
    ['$JS.API.>', 403],
    ['a..b', 400],
    ['.a', 400],
    ['a b', 400],
    ['', 400],
    ['x'.repeat(256), 400],
  ];
  for (const [subject, status] of refused)
    it(`refuses ${JSON.stringify(subject.slice(0, 40))} with ${status}, naming it`, () => {
      assert.throws(
        () => checkPublishSubject(subject),
        (err: unknown) =>
          err instanceof PublishRefusedError &&
          err.status === status &&
          (subject === '' || subject.length > 255 || err.message.includes(subject)),
      );
    });

  it('takes a plain subject, dashes and underscores included', () => {
    for (const subject of ['orders', 'orders.created', 'uploads.image-resized', 'a_b.C-9'])
      checkPublishSubject(subject);
  });
});

describe('ctx.publish in the gateway: FunctionEvents', () => {
  it('stores the event as a binary-mode CloudEvent from the function, sealed, and returns its id', async () => {
    const { bus, seen } = await eventsBus();
    const events = new FunctionEvents(config, () => bus);
    const data = Buffer.from('{"sku":"A-1"}');
    const published = await events.publish(alpha, {
      subject: 'orders.created',
      data,
      contentType: 'application/json',
    });
    assert.equal(published.delivered, true);
    assert.match(published.id, /^[0-9a-f-]{36}$/);
    await eventually(() => seen[0], 5_000, 'the event in the stream');
    const message = seen[0] as BusMessage;
    assert.equal(message.id, published.id);
    assert.deepEqual(Buffer.from(message.data), data);
    assert.equal(message.headers['ce-source'], 'nimbus://team/alpha');
    assert.equal(message.headers['ce-type'], 'orders.created');
    assert.deepEqual(openSeal(config.sealKey, message), {
      'ce-source': 'nimbus://team/alpha',
      'ce-type': 'orders.created',
    });
    await bus.close();
  });

  it('vouches for nothing under a seal it did not make or attributes changed after sealing', async () => {
    const { bus, seen } = await eventsBus();
    await new FunctionEvents(config, () => bus).publish(alpha, {
      subject: 'orders.created',
      data: Buffer.from('1'),
      contentType: 'application/json',
    });
    // An app logged in as the publisher user copies a real seal onto its own message.
    await eventually(() => seen[0], 5_000, 'the event in the stream');
    const real = seen[0] as BusMessage;
    await bus.publish('orders.created', Buffer.from('2'), {
      msgId: 'forged-1',
      headers: {
        'ce-source': 'nimbus://team/alpha',
        'ce-type': 'orders.created',
        [SEAL_HEADER]: real.headers[SEAL_HEADER] as string,
      },
    });
    await eventually(() => seen[1], 5_000, 'the event in the stream');
    assert.deepEqual(openSeal(config.sealKey, seen[1] as BusMessage), {});
    const other = readEventsConfig({ NIMBUS_STATE_KEY: 'o'.repeat(40) });
    assert.deepEqual(openSeal(other.sealKey, real), {}, 'another key opens nothing');
    await bus.close();
  });

  it('refuses data over the limit with 413 and stores nothing', async () => {
    const { bus, seen } = await eventsBus();
    const events = new FunctionEvents(config, () => bus);
    await assert.rejects(
      events.publish(alpha, { subject: 'orders.big', data: Buffer.alloc(1025), contentType: 'text/plain' }),
      (err: unknown) =>
        err instanceof PublishRefusedError && err.status === 413 && /1025 bytes/.test(err.message),
    );
    assert.equal((await bus.streamState(EVENTS_STREAM))?.messages ?? 0, 0);
    assert.equal(seen.length, 0);
    await bus.close();
  });

  it('answers delivered: false when no stream takes the subject (nobody listens)', async () => {
    const { bus } = await eventsBus();
    const published = await new FunctionEvents(config, () => bus).publish(alpha, {
      subject: 'nobody.listens',
      data: Buffer.from('1'),
      contentType: 'application/json',
    });
    assert.equal(published.delivered, false);
    assert.match(published.id, /^[0-9a-f-]{36}$/);
    await bus.close();
  });

  it('answers 503 before NATS is connected', async () => {
    await assert.rejects(
      new FunctionEvents(config, () => undefined).publish(alpha, {
        subject: 'orders.x',
        data: Buffer.from('1'),
        contentType: 'application/json',
      }),
      (err: unknown) => err instanceof PublishRefusedError && err.status === 503,
    );
  });
});

describe('ctx.publish in the gateway: the request body', () => {
  it('sends JSON data as JSON, a string under a text type as it is, and bytes from base64', () => {
    const json = eventOf({ subject: 's', data: { a: 1 } });
    assert.equal(json.contentType, 'application/json');
    assert.equal(Buffer.from(json.data).toString(), '{"a":1}');
    const text = eventOf({ subject: 's', data: 'hi', contentType: 'text/plain', type: 'greeting' });
    assert.equal(Buffer.from(text.data).toString(), 'hi');
    assert.equal(text.type, 'greeting');
    const bytes = eventOf({ subject: 's', dataBase64: Buffer.from([0, 255]).toString('base64') });
    assert.deepEqual([...bytes.data], [0, 255]);
    assert.equal(bytes.contentType, 'application/octet-stream');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['no subject', { data: 1 }, /subject must be a string/],
    ['both data and dataBase64', { subject: 's', data: 1, dataBase64: 'AA==' }, /data or dataBase64/],
    ['dataBase64 that is not base64', { subject: 's', dataBase64: '%%%' }, /dataBase64 must be base64/],
    ['a content type with a line break', { subject: 's', contentType: 'a\r\nb' }, /contentType/],
    ['a type that is not a string', { subject: 's', type: 5 }, /type must be/],
  ];
  for (const [what, body, message] of bad)
    it(`refuses ${what} with 400, naming the field`, () => {
      assert.throws(
        () => eventOf(body),
        (err: unknown) =>
          err instanceof PublishRefusedError && err.status === 400 && message.test(err.message),
      );
    });
});
