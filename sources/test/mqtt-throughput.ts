import { systemClock } from '@nimbus/api';
import { eventually, startMosquittoServer } from '@nimbus/testkit';
import { type MqttClient, connect } from 'mqtt';
import { mqttSource } from '../src/mqtt/index.js';
import { MQTT_IN_FLIGHT } from '../src/mqtt/reader.js';
import { RecordingSink, mqttTrigger, publisher, readerContext } from './support/mqtt-fixtures.js';

/**
 * Run by hand (not part of the suites): `node sources/dist/test/mqtt-throughput.js [count]`.
 * Messages per second through the reader to a sink that resolves at once, beside a bare MQTT.js
 * subscriber (MQTT 5, the same receive maximum, PUBACK on receipt). Both drain `count` QoS 1
 * messages their persistent session queued while they were away, on a mosquitto of their own;
 * bounded: each drain must finish within two minutes.
 */
const count = Number(process.argv[2] ?? 20_000);
const broker = await startMosquittoServer({ maxQueuedMessages: count * 2 });
try {
  const pub = await publisher(broker.url);
  const bare = await measureBare(broker.url, pub);
  const reader = await measureReader(broker.url, pub);
  await pub.endAsync();
  const rate = (ms: number) => Math.round((count / ms) * 1000);
  process.stdout.write(
    `${count} QoS 1 messages: bare MQTT.js ${bare} ms (${rate(bare)}/s); reader ${reader} ms (${rate(reader)}/s)\n`,
  );
} finally {
  await broker.stop();
}

async function fill(pub: MqttClient, prefix: string): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 500); j++)
      batch.push(pub.publishAsync(`${prefix}/${j % 10}`, `{"n":${j}}`, { qos: 1 }));
    await Promise.all(batch);
  }
}

async function measureBare(url: string, pub: MqttClient): Promise<number> {
  const options = {
    protocolVersion: 5 as const,
    clientId: 'bench-bare',
    clean: false,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 3600, receiveMaximum: MQTT_IN_FLIGHT },
  };
  const first = connect(url, options);
  await new Promise((resolve) => first.once('connect', resolve));
  await first.subscribeAsync('bare/#', { qos: 1 });
  await first.endAsync();
  await fill(pub, 'bare');
  let got = 0;
  const started = performance.now();
  const client = connect(url, options);
  client.on('message', () => {
    got += 1;
  });
  await eventually(() => (got >= count ? true : undefined), 120_000, 'the bare subscriber to drain');
  const ms = Math.round(performance.now() - started);
  await client.endAsync();
  return ms;
}

async function measureReader(url: string, pub: MqttClient): Promise<number> {
  const sink = new RecordingSink();
  const context = readerContext(mqttTrigger({ topics: ['reader/#'] }, 'bench'), url, sink, systemClock);
  const first = mqttSource.reader?.(context);
  first?.start();
  await eventually(() => (sink.last?.connected ? true : undefined), 10_000, 'the reader to subscribe');
  await first?.stop();
  await fill(pub, 'reader');
  const started = performance.now();
  const reader = mqttSource.reader?.(context);
  reader?.start();
  await eventually(() => (sink.events.length >= count ? true : undefined), 120_000, 'the reader to drain');
  const ms = Math.round(performance.now() - started);
  await reader?.stop();
  return ms;
}
