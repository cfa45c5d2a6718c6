import { secretEnvName } from '@nimbus/gateway';
import type { RabbitMqServer } from '@nimbus/testkit';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { stampedBody } from '../drive.js';
import type { SourceDriver } from '../source-driver.js';

/** A fanout exchange feeding both the trigger's queue and the bare consumer's, so each gets every message. */
const EXCHANGE = 'bench-events';
const BARE_QUEUE = 'bench-bare';
/** The trigger's default prefetch, which the bare consumer keeps too. */
const PREFETCH = 10;

/**
 * Persistent messages published with confirms to a fanout exchange; the origin time is a stamp in
 * the payload. The baseline drains the same messages from a second bound queue with a bare
 * amqplib consumer at the same prefetch, acking each.
 */
export function rabbitMqDriver(server: RabbitMqServer): SourceDriver {
  let connection: ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  return {
    name: 'rabbitmq',
    origin: 'payload',
    trigger: `- name: queue\n  rabbitmq:\n    connection: { name: bench-broker, key: url }\n    queue: bench-events\n    declare: true\n    bindings: [{ exchange: ${EXCHANGE} }]\n    prefetch: ${PREFETCH}`,
    env: { [secretEnvName('bench-broker', 'url')]: server.url },
    saturationEvents: 5_000,
    lanes: 64,
    baselineNote: `bare amqplib consumer, prefetch ${PREFETCH}, acks`,
    originPid: () => server.pid,
    async prepare() {
      const setup = await amqp.connect(server.url);
      const ch = await setup.createChannel();
      await ch.assertExchange(EXCHANGE, 'fanout', { durable: true });
      await setup.close();
    },
    async connect() {
      connection = await amqp.connect(server.url);
      channel = await connection.createConfirmChannel();
    },
    publish(phase, n) {
      const ch = channel;
      if (ch === undefined) return Promise.reject(new Error('rabbitmq: not connected'));
      const body = Buffer.from(stampedBody(phase, n));
      return new Promise((resolve, reject) => {
        ch.publish(
          EXCHANGE,
          '',
          body,
          { messageId: `${phase}-${n}`, contentType: 'application/json', persistent: true },
          (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
        );
      });
    },
    async armBaseline() {
      await channel?.assertQueue(BARE_QUEUE, { durable: true });
      await channel?.bindQueue(BARE_QUEUE, EXCHANGE, '');
    },
    async baseline(count) {
      const bare = await amqp.connect(server.url);
      try {
        const ch = await bare.createChannel();
        await ch.prefetch(PREFETCH);
        let got = 0;
        const started = performance.now();
        const drained = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`bare consumer: ${got} of ${count} in 60 s`)),
            60_000,
          );
          void ch.consume(BARE_QUEUE, (message) => {
            if (message === null) return;
            ch.ack(message);
            if (++got === count) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        await drained;
        return (count / (performance.now() - started)) * 1000;
      } finally {
        await bare.close();
        // Gone before the paced phase, so nothing piles up in it.
        await channel?.deleteQueue(BARE_QUEUE);
      }
    },
    async close() {
      await connection?.close();
    },
  };
}
