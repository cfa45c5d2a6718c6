import { secretEnvName } from '@nimbus/gateway';
import type { MosquittoServer } from '@nimbus/testkit';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { stampedBody } from '../drive.js';
import type { SourceDriver } from '../source-driver.js';

const TOPIC = 'bench/events';
/** The bare subscriber's persistent session: it queues the saturation phase while away, as the reader's does. */
const BARE_SESSION: IClientOptions = {
  protocolVersion: 5,
  clientId: 'bench-bare',
  clean: false,
  reconnectPeriod: 0,
  properties: { sessionExpiryInterval: 600 },
};

/**
 * QoS 1 publishes to one topic (resolved at the PUBACK); the origin time is a stamp in the payload.
 * The baseline is a bare MQTT.js subscriber in a persistent session of its own, subscribed before
 * the saturation phase and then away, that drains what its session queued.
 */
export function mqttDriver(server: MosquittoServer): SourceDriver {
  let publisher: MqttClient | undefined;
  return {
    name: 'mqtt',
    origin: 'payload',
    trigger: `- name: telemetry\n  mqtt:\n    connection: { name: bench-mqtt, key: url }\n    topics: ['bench/#']`,
    env: { [secretEnvName('bench-mqtt', 'url')]: server.url },
    saturationEvents: 5_000,
    lanes: 64,
    baselineNote: 'bare MQTT.js subscriber draining its session',
    originPid: () => server.pid,
    async prepare() {},
    async connect() {
      publisher = await mqtt.connectAsync(server.url, { protocolVersion: 5, reconnectPeriod: 0 });
    },
    async publish(phase, n) {
      if (publisher === undefined) throw new Error('mqtt: not connected');
      await publisher.publishAsync(TOPIC, stampedBody(phase, n), { qos: 1 });
    },
    async armBaseline() {
      const bare = await mqtt.connectAsync(server.url, BARE_SESSION);
      await bare.subscribeAsync('bench/#', { qos: 1 });
      await bare.endAsync();
    },
    async baseline(count) {
      let got = 0;
      let done: () => void = () => {};
      const drained = new Promise<void>((resolve) => {
        done = resolve;
      });
      const started = performance.now();
      const bare = mqtt.connect(server.url, BARE_SESSION);
      bare.on('message', () => {
        if (++got === count) done();
      });
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`bare subscriber: ${got} of ${count} in 60 s`)), 60_000);
      });
      try {
        await Promise.race([drained, limit]);
        return (count / (performance.now() - started)) * 1000;
      } finally {
        clearTimeout(timer);
        // Gone before the paced phase, so its session queues nothing more.
        await bare.unsubscribeAsync('bench/#').catch(() => {});
        await bare.endAsync();
      }
    },
    async close() {
      await publisher?.endAsync();
    },
  };
}
