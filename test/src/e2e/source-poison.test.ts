import assert from 'node:assert/strict';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { TriggerStatus } from '@nimbus/api';
import { eventually, send } from '@nimbus/testkit';
import mqtt from 'mqtt';
import { type DeadLetterView, admin, callReaches, deadLetterOfEvent } from '../harness/async-calls.js';
import {
  EventSourceFixture,
  SECRETS,
  type Seen,
  recordingFunction,
  sourceTrigger,
} from '../harness/event-source-fixture.js';

/** Two attempts 100 ms apart, then the dead letters: a poison event ends quickly. */
const ATTEMPTS = { maxDeliver: 2, backoff: '[100ms]' };

/**
 * Issue 16, item 8: a poison event of each kind ends in the dead letters with its last error,
 * through a local-mode gateway, and the events around it are delivered. RabbitMQ's and webhooks'
 * are in event-sources.test.ts and webhooks.test.ts; here PostgreSQL, MQTT and a polled S3 bucket.
 * The recording function refuses (500) any event that mentions "poison", until told to accept.
 */
describe('poison events of PostgreSQL, MQTT and S3 end in the dead letters with their last error', function () {
  this.timeout(240_000);
  let fixture: EventSourceFixture;
  let store: S3Client;

  before(async () => {
    fixture = await EventSourceFixture.start({
      sources: ['postgres', 'mqtt', 's3'],
      functions: (at) => ({
        'rows.yaml': recordingFunction(
          at,
          'rows',
          sourceTrigger('parcels', 'postgres', { tables: '[public.parcels]', ...ATTEMPTS }),
        ),
        'readings.yaml': recordingFunction(
          at,
          'readings',
          sourceTrigger('readings', 'mqtt', { topics: "['meters/#']", ...ATTEMPTS }),
        ),
        'pictures.yaml': recordingFunction(
          at,
          'pictures',
          `  - name: pictures\n    s3:\n      endpoint: ${at.s3}\n      bucket: pictures\n      mode: poll\n      pollInterval: 300ms\n      credentials: { secret: ${SECRETS.s3} }\n      maxDeliver: ${ATTEMPTS.maxDeliver}\n      backoff: ${ATTEMPTS.backoff}`,
        ),
      }),
      async prepare(f) {
        await f.postgres.sql('CREATE TABLE parcels (id int PRIMARY KEY, label text)');
        await f.storeClient().send(new CreateBucketCommand({ Bucket: 'pictures' }));
      },
    });
    store = fixture.storeClient();
  });

  after(async function () {
    this.timeout(60_000);
    await fixture?.stop();
  });

  /** The poison was tried maxDeliver times and its last error is the function's 500 with its body. */
  const assertLastError = (letter: DeadLetterView) => {
    assert.equal(letter.attempts, 2, 'maxDeliver 2');
    assert.match(letter.lastError, /attempt 2: the function answered 500: cannot take this one/);
  };
  /** How often the poison was tried, and the other events once each (at least once: a repeat has its id). */
  /** The trigger's entry in the Function's status (local mode's view of its health). */
  const triggerOf = async (name: string) => {
    const reply = await send(fixture.url, `/system/functions/${name}`, { headers: admin });
    const triggers = reply.json<{ status: { triggers: TriggerStatus[] } }>().status.triggers;
    return { fn: triggers.find((t) => t.name === name) as TriggerStatus };
  };
  const idsOf = (seen: readonly Seen[], poison: string) => ({
    poison: seen.filter((e) => e.id === poison).length,
    others: [...new Map(seen.filter((e) => e.id !== poison).map((e) => [e.id, e])).values()],
  });

  it('a row change the function refuses: dead-lettered after 2 attempts; the rows around it arrive, in order', async () => {
    await fixture.connected('parcels');
    await fixture.postgres.sql(
      "INSERT INTO parcels VALUES (1, 'before'); INSERT INTO parcels VALUES (2, 'poison'); " +
        "INSERT INTO parcels VALUES (3, 'after');",
    );
    const seen = await fixture.waitFor('rows', 'both good rows', (s) =>
      s.some((e) => (e.data.new as { label?: string })?.label === 'after'),
    );
    const poison = seen.find((e) => (e.data.new as { label?: string })?.label === 'poison');
    assert.ok(poison, 'the poison row was tried');
    const { poison: tries, others } = idsOf(seen, poison.id);
    assert.equal(tries, 2);
    assert.deepEqual(
      others.map((e) => (e.data.new as { label?: string }).label),
      ['before', 'after'],
    );
    const letter = await deadLetterOfEvent(fixture.url, 'rows', poison.id, 30_000);
    assertLastError(letter);
    assert.equal(letter.request.headers['ce-type'], 'dev.nimbus.postgres.insert');
  });

  it('an MQTT message the function refuses: dead-lettered; the messages around it arrive', async () => {
    await fixture.connected('readings');
    const client = await mqtt.connectAsync(fixture.mqtt.url, { protocolVersion: 5 });
    for (const reading of [{ kwh: 1 }, { kwh: 2, note: 'poison' }, { kwh: 3 }])
      await client.publishAsync('meters/hall', JSON.stringify(reading), { qos: 1 });
    await client.endAsync();
    const seen = await fixture.waitFor(
      'readings',
      'both good readings and two attempts of the poison',
      (s) => s.filter((e) => e.data.note === 'poison').length >= 2 && s.some((e) => e.data.kwh === 3),
    );
    const poison = seen.find((e) => e.data.note === 'poison') as Seen;
    const { poison: tries, others } = idsOf(seen, poison.id);
    assert.equal(tries, 2);
    assert.deepEqual(others.map((e) => e.data.kwh).sort(), [1, 3]);
    const letter = await deadLetterOfEvent(fixture.url, 'readings', poison.id, 30_000);
    assertLastError(letter);
    assert.equal(letter.request.headers['ce-subject'], 'meters/hall');
  });

  it('an upload the function refuses: dead-lettered; the uploads around it arrive', async () => {
    await fixture.connected('pictures');
    await fixture.upload(store, 'pictures', ['a.jpg']);
    await fixture.waitFor('pictures', 'the first upload', (s) => s.length >= 1);
    await fixture.upload(store, 'pictures', ['poison.jpg']);
    await fixture.upload(store, 'pictures', ['b.jpg']);
    const seen = await fixture.waitFor(
      'pictures',
      'both good uploads and two attempts of the poison',
      (s) => s.filter((e) => e.subject === 'poison.jpg').length >= 2 && s.some((e) => e.subject === 'b.jpg'),
    );
    const poison = seen.find((e) => e.subject === 'poison.jpg') as Seen;
    const { poison: tries, others } = idsOf(seen, poison.id);
    assert.equal(tries, 2);
    assert.deepEqual(others.map((e) => e.subject).sort(), ['a.jpg', 'b.jpg']);
    const letter = await deadLetterOfEvent(fixture.url, 'pictures', poison.id, 30_000);
    assertLastError(letter);
    assert.equal(letter.request.headers['ce-type'], 'dev.nimbus.s3.object.created');
  });

  /** Polls the function's dead letters until one holds an event on `subject`. */
  const letterOn = (fn: string, subject: string) =>
    eventually(
      async () => {
        const reply = await send(fixture.url, `/system/dead-letters?namespace=default&function=${fn}`, {
          headers: admin,
        });
        return reply
          .json<{ entries: (DeadLetterView & { reason: string })[] }>()
          .entries.find((e) => e.request.headers['ce-subject'] === subject);
      },
      30_000,
      `a dead letter of ${fn} on ${subject}`,
    );

  it('bad input over MQTT (over the event bus limit; bytes declared JSON that are not UTF-8): dead letters, and the stream goes on', async () => {
    await fixture.connected('readings');
    const client = await mqtt.connectAsync(fixture.mqtt.url, { protocolVersion: 5 });
    // Under the reader's MQTT packet limit (1 MiB + 64 KiB), over JetStream's 1 MiB max_payload.
    await client.publishAsync('meters/big', Buffer.alloc(1_080_000, 'x'), { qos: 1 });
    await client.publishAsync('meters/garbled', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), {
      qos: 1,
      properties: { contentType: 'application/json' },
    });
    await client.publishAsync('meters/hall', JSON.stringify({ kwh: 4 }), { qos: 1 });
    await client.endAsync();
    await fixture.waitFor('readings', 'the reading after the bad input', (s) =>
      s.some((e) => e.data.kwh === 4),
    );
    const big = await letterOn('readings', 'meters/big');
    assert.equal(big.reason, 'refused');
    assert.equal(big.attempts, 0, 'never delivered');
    assert.match(big.lastError, /not stored: the event is 1080000 bytes, more than the event bus takes/);
    const garbled = await letterOn('readings', 'meters/garbled');
    assert.equal(garbled.attempts, 2);
    assert.match(garbled.lastError, /attempt 2: the function answered 400: .*not valid JSON/);
    // Nothing is left for the broker to give again: the reader stays connected, and reads on at once.
    const { fn } = await triggerOf('readings');
    assert.deepEqual([fn.connected, fn.lastError], [true, undefined]);
    const more = await mqtt.connectAsync(fixture.mqtt.url, { protocolVersion: 5 });
    await more.publishAsync('meters/hall', JSON.stringify({ kwh: 5 }), { qos: 1 });
    await more.endAsync();
    await fixture.waitFor('readings', 'the next reading', (s) => s.some((e) => e.data.kwh === 5), 10_000);
    assert.deepEqual([(await triggerOf('readings')).fn.connected], [true]);
  });

  it('a dead-lettered source event is redriven once the function takes it, and leaves the dead letters', async () => {
    const poison = (await fixture.seenBy('readings')).find((e) => e.data.note === 'poison') as Seen;
    const letter = await deadLetterOfEvent(fixture.url, 'readings', poison.id);
    await fixture.accept('readings');
    const path = `/system/dead-letters/${encodeURIComponent(letter.id)}`;
    const redrive = await send(fixture.url, `${path}/redrive`, { method: 'POST', headers: admin });
    assert.equal(redrive.status, 202, redrive.text);
    const callId = String(redrive.headers['x-call-id']);
    await callReaches(fixture.url, callId, 'succeeded', 30_000);
    const seen = await fixture.waitFor(
      'readings',
      'the poison taken',
      (s) => s.filter((e) => e.id === poison.id).length >= 3,
    );
    assert.deepEqual(seen.filter((e) => e.id === poison.id).at(-1)?.data, { kwh: 2, note: 'poison' });
    const gone = await send(fixture.url, path, { headers: admin });
    assert.equal(gone.status, 404, gone.text);
  });
});
