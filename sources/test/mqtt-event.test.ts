import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt';
import { SourceConfigError } from '../src/index.js';
import { AckWindow } from '../src/mqtt/ack-window.js';
import { covers, subscriptionFilters } from '../src/mqtt/filters.js';
import { clientIdOf, contentTypeOf, messageEvent, parseEndpoint, printable } from '../src/mqtt/index.js';
import { mqttTrigger } from './support/mqtt-fixtures.js';

const origin = { source: 'mqtt://broker:1883', clientId: 'nimbusabc' };

function packet(fields: Partial<IPublishPacket> = {}): IPublishPacket {
  return {
    cmd: 'publish',
    topic: 'plant/line1/temp',
    payload: Buffer.from('{"c":20}'),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 42,
    ...fields,
  };
}

const idOf = (fields: Partial<IPublishPacket>, from = origin) => messageEvent(packet(fields), from, 0).id;

describe('mqtt source: events, ids and endpoints', () => {
  describe('event id', () => {
    it('is the same for a redelivery (DUP set, received later)', () => {
      const first = messageEvent(packet(), origin, 1_000);
      const again = messageEvent(packet({ dup: true }), origin, 9_000);
      assert.equal(again.id, first.id);
      assert.notEqual(again.time, first.time);
      assert.match(first.id, /^mqtt-42-[0-9a-f]{40}$/);
    });

    it('differs when the packet id, topic, payload or trigger differ', () => {
      const base = idOf({});
      for (const other of [
        idOf({ messageId: 43 }),
        idOf({ topic: 'plant/line2/temp' }),
        idOf({ payload: Buffer.from('{"c":21}') }),
        idOf({}, { ...origin, clientId: 'nimbusdef' }),
      ])
        assert.notEqual(other, base);
    });

    it('is random for QoS 0, which is never given again', () => {
      const a = idOf({ qos: 0, messageId: undefined });
      const b = idOf({ qos: 0, messageId: undefined });
      assert.notEqual(a, b);
      assert.match(a, /^mqtt-q0-[0-9a-f-]{36}$/);
    });
  });

  describe('content type', () => {
    it('takes MQTT 5 content type, else JSON if it parses, else octet-stream', () => {
      const json = new TextEncoder().encode('[1,2]');
      assert.equal(contentTypeOf('text/csv; charset=utf-8', json), 'text/csv; charset=utf-8');
      assert.equal(contentTypeOf(undefined, json), 'application/json');
      assert.equal(contentTypeOf(undefined, new TextEncoder().encode('hello')), 'application/octet-stream');
      assert.equal(contentTypeOf(undefined, new Uint8Array()), 'application/octet-stream');
      assert.equal(contentTypeOf(undefined, Uint8Array.from([0x22, 0xff, 0x22])), 'application/octet-stream');
    });

    it('ignores a hostile content type (header injection, not a media type, too long)', () => {
      const data = new TextEncoder().encode('{}');
      for (const declared of [
        'text/plain\r\nx-evil: 1',
        'text/plain\nx',
        'nonsense',
        '',
        `a/${'b'.repeat(200)}`,
      ])
        assert.equal(contentTypeOf(declared, data), 'application/json', JSON.stringify(declared));
    });
  });

  it('extensions: the topic printable (hostile bytes percent-encoded), qos, retain only when set', () => {
    const event = messageEvent(packet({ topic: 'a/\r\nx: 1/küche/100%', retain: true }), origin, 0);
    assert.deepEqual(event.extensions, { topic: 'a/%0D%0Ax: 1/k%C3%BCche/100%25', qos: '1', retain: 'true' });
    assert.equal(decodeURIComponent(event.extensions?.topic ?? ''), 'a/\r\nx: 1/küche/100%');
    assert.equal(messageEvent(packet(), origin, 0).extensions?.retain, undefined);
    assert.match(printable('\u0000\u007f\u{1F600}'), /^[\x20-\x7e]+$/);
  });

  describe('endpoint', () => {
    const field = 'spec.triggers[t].mqtt.connection';

    it('keeps the login apart from the URL and the source', () => {
      assert.deepEqual(parseEndpoint('mqtt://us%40er:p%3Ass@broker.local', field), {
        url: 'mqtt://broker.local:1883',
        source: 'mqtt://broker.local:1883',
        username: 'us@er',
        password: 'p:ss',
      });
      assert.deepEqual(parseEndpoint('wss://h/mqtt?x=1', field), {
        url: 'wss://h:443/mqtt?x=1',
        source: 'wss://h:443/mqtt',
      });
      assert.equal(parseEndpoint('mqtts://h', field).source, 'mqtts://h:8883');
    });

    for (const raw of ['not a url secret', 'http://u:secret@h/', 'mqtt://u:secret@/x'])
      it(`refuses ${JSON.stringify(raw)} naming the field, not repeating the URL`, () => {
        assert.throws(
          () => parseEndpoint(raw, field),
          (err: unknown) =>
            err instanceof SourceConfigError && err.field === field && !err.message.includes('secret'),
        );
      });
  });

  it('client id: the same for a trigger everywhere, another for another trigger, 23 characters of [0-9a-z]', () => {
    const id = clientIdOf(mqttTrigger({ topics: ['x'] }, 'a'));
    assert.equal(id, clientIdOf(mqttTrigger({ topics: ['y'] }, 'a')));
    assert.notEqual(id, clientIdOf(mqttTrigger({ topics: ['x'] }, 'b')));
    assert.notEqual(id, clientIdOf(mqttTrigger({ topics: ['x'] }, 'a', 'other-fn')));
    assert.notEqual(id, clientIdOf(mqttTrigger({ topics: ['x'] }, 'a'), 'probe'));
    assert.match(id, /^nimbus[0-9a-f]{17}$/);
  });

  it('filters: a filter another covers is not subscribed (it would bring each message twice)', () => {
    assert.ok(covers('a/#', 'a/+/x'));
    assert.ok(covers('a/#', 'a'));
    assert.ok(covers('+/b', 'a/b'));
    assert.ok(!covers('a/+/x', 'a/b/+'));
    assert.ok(!covers('a/+', 'a/+/x'));
    assert.ok(!covers('a/b', 'a/+'));
    assert.ok(!covers('#', '$SYS/x'));
    assert.deepEqual(subscriptionFilters(['a/+/x', 'b', 'a/#', 'b', 'a/b/+']), ['b', 'a/#']);
    assert.deepEqual(subscriptionFilters(['a/+/x', 'a/b/+']), ['a/+/x', 'a/b/+']);
  });

  it('ack window: PUBACKs in arrival order, none after a store that failed', async () => {
    const acked: number[] = [];
    const failures: unknown[] = [];
    const window = new AckWindow(
      (id) => acked.push(id),
      (err) => failures.push(err),
    );
    const stores = [1, 2, 3, 4, 5].map(deferred);
    const tracked = stores.map((s, i) => window.track(i + 1, s.promise));
    stores[1]?.resolve();
    await tracked[1];
    assert.deepEqual(acked, [], '2 waits for 1');
    stores[0]?.resolve();
    await tracked[0];
    assert.deepEqual(acked, [1, 2]);
    stores[3]?.resolve();
    stores[2]?.reject(new Error('no'));
    stores[4]?.reject(new Error('again'));
    await Promise.all(tracked);
    assert.deepEqual(acked, [1, 2]);
    assert.equal(failures.length, 1);
    assert.equal(window.size, 3);
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve: () => void = () => {};
  let reject: (err: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
