import assert from 'node:assert/strict';
import { systemClock } from '@nimbus/api';
import { type MosquittoServer, eventually, startMosquittoServer } from '@nimbus/testkit';
import type { MqttClient } from 'mqtt';
import { SourceConfigError, type SourceReader } from '../src/index.js';
import { mqttSource } from '../src/mqtt/index.js';
import {
  RecordingSink,
  mqttTrigger,
  publisher,
  readerContext,
  secretsOf,
  withLogin,
} from './support/mqtt-fixtures.js';

const USER = 'reader-ann';
const PASSWORD = 'pw-Zq81-do-not-leak';

/** What a promise rejected with (undefined when it resolved). */
const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('mqtt source: logins and the provisioner on a real mosquitto', function () {
  this.timeout(60_000);
  let broker: MosquittoServer;
  let good: string;
  let bad: string;
  let pub: MqttClient;
  const readers: SourceReader[] = [];
  const provisioner = mqttSource.provisioner;
  assert.ok(provisioner);

  before(async () => {
    broker = await startMosquittoServer({ user: { user: USER, password: PASSWORD } });
    good = withLogin(broker.url, USER, PASSWORD);
    bad = withLogin(broker.url, USER, `${PASSWORD}-wrong`);
    pub = await publisher(broker.url, { username: USER, password: PASSWORD });
  });
  after(async () => {
    await pub?.endAsync(true);
    await broker?.stop();
  });
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.stop()));
  });

  function startReader(
    name: string,
    topics: string[],
    url: string,
    sink: RecordingSink,
    logs: string[] = [],
  ) {
    const reader = mqttSource.reader?.(
      readerContext(mqttTrigger({ topics }, name), url, sink, systemClock, logs),
    );
    assert.ok(reader);
    readers.push(reader);
    reader.start();
    return reader;
  }

  it('refuses an anonymous publisher (the harness turned anonymous access off)', async () => {
    await assert.rejects(publisher(broker.url).then((c) => c.endAsync(true)));
  });

  it('wrong credentials: clear health, retried, and the password nowhere', async () => {
    const sink = new RecordingSink();
    const logs: string[] = [];
    startReader('wrong', ['w/#'], bad, sink, logs);
    const tries = () => logs.filter((line) => line.includes('mqtt source could not connect')).length;
    await eventually(() => (tries() >= 2 ? true : undefined), 10_000, 'a second try');
    const health = sink.health.find((h) => h.lastError !== undefined) ?? { connected: true };
    assert.equal(health.connected, false);
    assert.match(
      health.lastError ?? '',
      /^mqtt:\/\/127\.0\.0\.1:\d+: Connection refused: (Bad User Name or Password|Not authorized)$/,
    );
    const everything = JSON.stringify([sink.health, logs]);
    assert.ok(!everything.includes(PASSWORD), 'the password leaked into health or logs');
  });

  it('the right credentials: events carry the broker without the login, and nothing shows the password', async () => {
    const sink = new RecordingSink();
    const logs: string[] = [];
    startReader('right', ['g/#'], good, sink, logs);
    await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'connected');
    await pub.publishAsync('g/1', JSON.stringify({ ok: true }), { qos: 1 });
    await eventually(() => (sink.events.length === 1 ? true : undefined), 10_000, 'the event');
    assert.equal(sink.events[0]?.source, broker.url);
    const everything = JSON.stringify([sink.events, sink.health, logs]);
    assert.ok(!everything.includes(PASSWORD) && !everything.includes(USER), 'the login leaked');
  });

  it('a missing Secret or a URL that is not an MQTT one shows in health, naming the field, and is retried', async () => {
    const sink = new RecordingSink();
    const source = mqttTrigger({ topics: ['m/#'] }, 'bad-url');
    const reader = mqttSource.reader?.({
      ...readerContext(source, `http://${USER}:${PASSWORD}@127.0.0.1/`, sink, systemClock),
    });
    assert.ok(reader);
    readers.push(reader);
    reader.start();
    await eventually(() => (sink.health.length >= 2 ? true : undefined), 5_000, 'a second try');
    const health = sink.health[0] ?? { connected: true };
    assert.equal(health.connected, false);
    assert.equal(
      health.lastError,
      'spec.triggers[bad-url].mqtt.connection: scheme http: is not mqtt:, mqtts:, ws: or wss:',
    );
  });

  describe('provisioner', () => {
    const source = mqttTrigger({ topics: ['p/+/x', 'p/#'] }, 'prov');

    it('ensure passes with the right login, and leaves a running reader connected', async () => {
      const sink = new RecordingSink();
      startReader('prov', source.spec.topics, good, sink);
      await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'connected');
      const reports = sink.health.length;
      await provisioner.ensure(source, secretsOf({ 'broker/url': good }));
      await provisioner.ensure(source, secretsOf({ 'broker/url': good })); // idempotent
      await pub.publishAsync('p/a/x', 'after ensure', { qos: 1 });
      await pub.publishAsync('p/end', 'end', { qos: 1 });
      await eventually(() => (sink.payloads().includes('end') ? true : undefined), 10_000, 'the events');
      // p/+/x is inside p/#: subscribed once, so the message comes once.
      assert.deepEqual(sink.payloads(), ['after ensure', 'end']);
      assert.equal(sink.health.length, reports, 'the session was taken from the reader');
    });

    it('ensure with the wrong login is a SourceConfigError naming the connection, without the password', async () => {
      const err = await rejection(provisioner.ensure(source, secretsOf({ 'broker/url': bad })));
      assert.ok(err instanceof SourceConfigError, String(err));
      assert.equal(err.field, 'spec.triggers[prov].mqtt.connection');
      assert.match(err.message, /Connection refused/);
      assert.ok(!err.message.includes(PASSWORD));
    });

    it('ensure with a bad URL or an invalid filter names the field', async () => {
      const notUrl = await rejection(
        provisioner.ensure(source, secretsOf({ 'broker/url': `${USER}:${PASSWORD}` })),
      );
      assert.ok(notUrl instanceof SourceConfigError);
      assert.equal(notUrl.field, 'spec.triggers[prov].mqtt.connection');
      assert.ok(!notUrl.message.includes(PASSWORD));
      // p/# would cover p/#/x if it were valid: it is refused all the same.
      const badFilter = mqttTrigger({ topics: ['p/#', 'p/#/x'] }, 'prov');
      const err = await rejection(provisioner.ensure(badFilter, secretsOf({ 'broker/url': good })));
      assert.ok(err instanceof SourceConfigError, String(err));
      assert.equal(err.field, 'spec.triggers[prov].mqtt.topics');
      assert.match(err.message, /not a valid MQTT topic filter: "p\/#\/x"$/);
      // Said even while the broker is out of reach: waiting would not mend it.
      const offline = await rejection(
        provisioner.ensure(badFilter, secretsOf({ 'broker/url': 'mqtt://127.0.0.1:1' })),
      );
      assert.ok(offline instanceof SourceConfigError, String(offline));
      assert.equal(offline.field, 'spec.triggers[prov].mqtt.topics');
    });

    it('ensure with a broker out of reach is a plain error, worth retrying', async () => {
      const gone = withLogin('mqtt://127.0.0.1:1/', USER, PASSWORD);
      const err = await rejection(provisioner.ensure(source, secretsOf({ 'broker/url': gone })));
      assert.ok(err instanceof Error && !(err instanceof SourceConfigError), String(err));
      assert.match(err.message, /^mqtt:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
      assert.ok(!err.message.includes(PASSWORD));
    });

    it('remove ends the session: what is published after it is not delivered to the next session', async () => {
      const gone = mqttTrigger({ topics: ['rm/#'] }, 'removed');
      const sink = new RecordingSink();
      const reader = startReader('removed', gone.spec.topics, good, sink);
      await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'connected');
      readers.splice(readers.indexOf(reader), 1);
      await reader.stop();
      await pub.publishAsync('rm/1', 'queued before remove', { qos: 1 });
      await provisioner.remove(gone, secretsOf({ 'broker/url': good }));
      await provisioner.remove(gone, secretsOf({ 'broker/url': good })); // idempotent
      await pub.publishAsync('rm/2', 'after remove', { qos: 1 });
      const later = new RecordingSink();
      startReader('removed', gone.spec.topics, good, later);
      await eventually(() => (later.last?.connected ? true : undefined), 10_000, 'connected again');
      await pub.publishAsync('rm/3', 'new session', { qos: 1 });
      await eventually(() => (later.events.length > 0 ? true : undefined), 10_000, 'the new message');
      assert.deepEqual(later.payloads(), ['new session']);
    });
  });
});
