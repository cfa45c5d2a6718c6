import { EVENTS_STREAM } from '@nimbus/bus';
import type { NatsServer } from '@nimbus/testkit';
import { AckPolicy, DeliverPolicy, type JetStreamClient, type NatsConnection, connect } from 'nats';
import { stampedBody } from '../drive.js';
import type { SourceDriver } from '../source-driver.js';

const SUBJECT = 'bench.events';
const BARE_DURABLE = 'bench-bare';

/**
 * The existing path every source is compared with: JetStream publishes (resolved at the stream's
 * ack) to a NATS trigger's subject; the origin time is a stamp in the payload. The baseline is a
 * bare nats.js pull consumer of the same stream, made before the saturation phase, that drains
 * and acks the same messages.
 */
export function natsDriver(server: NatsServer): SourceDriver {
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  return {
    name: 'nats',
    origin: 'payload',
    trigger: `- nats: { subject: ${SUBJECT} }`,
    env: {},
    saturationEvents: 5_000,
    lanes: 64,
    baselineNote: 'bare nats.js pull consumer, acks',
    originPid: () => server.pid,
    async prepare() {},
    async connect() {
      nc = await connect({ servers: server.url, name: 'bench-events' });
      js = nc.jetstream();
    },
    async publish(phase, n) {
      if (js === undefined) throw new Error('nats: not connected');
      await js.publish(SUBJECT, stampedBody(phase, n));
    },
    async armBaseline() {
      const jsm = await nc?.jetstreamManager();
      await jsm?.consumers.add(EVENTS_STREAM, {
        durable_name: BARE_DURABLE,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        filter_subject: SUBJECT,
      });
    },
    async baseline(count) {
      if (js === undefined || nc === undefined) throw new Error('nats: not connected');
      const jsm = await nc.jetstreamManager();
      const consumer = await js.consumers.get(EVENTS_STREAM, BARE_DURABLE);
      const started = performance.now();
      const messages = await consumer.consume({ max_messages: 1_000 });
      const timer = setTimeout(() => void messages.close(), 60_000);
      let got = 0;
      try {
        for await (const message of messages) {
          message.ack();
          if (++got === count) break;
        }
        if (got < count) throw new Error(`bare consumer: ${got} of ${count} in 60 s`);
        return (count / (performance.now() - started)) * 1000;
      } finally {
        clearTimeout(timer);
        await jsm.consumers.delete(EVENTS_STREAM, BARE_DURABLE);
      }
    },
    async close() {
      await nc?.drain();
    },
  };
}
