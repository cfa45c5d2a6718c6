/**
 * Messages per second through the RabbitMQ reader to a sink that settles at once, beside a bare
 * amqplib consumer with the same prefetch and manual acks: what the reader's own work costs.
 * Not part of the suite (it takes a minute); run it by hand after a build:
 *   node sources/dist/test/rabbitmq-throughput.js [messages] [prefetch]
 */
import { eventually, startRabbitMqServer } from '@nimbus/testkit';
import amqp from 'amqplib';
import { RabbitMqReader } from '../src/rabbitmq/index.js';
import { RecordingSink, publish, rabbitTrigger, readerContext, withChannel } from './support/rabbitmq.js';

const total = Number(process.argv[2] ?? 20_000);
const prefetch = Number(process.argv[3] ?? 10);

async function fill(url: string, queue: string): Promise<void> {
  await withChannel(url, (channel) => channel.assertQueue(queue, { durable: true }));
  for (let sent = 0; sent < total; sent += 1_000)
    await publish(
      url,
      '',
      queue,
      Array.from({ length: Math.min(1_000, total - sent) }, (_, i) => ({
        body: JSON.stringify({ n: sent + i, pad: 'x'.repeat(200) }),
        options: { messageId: `m${sent + i}` },
      })),
    );
}

async function bare(url: string, queue: string): Promise<number> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.prefetch(prefetch);
  let acked = 0;
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    void channel.consume(queue, (message) => {
      if (message === null) return;
      // The same hop the reader takes: settle on a later microtask, then ack.
      void Promise.resolve().then(() => {
        channel.ack(message);
        if (++acked === total) resolve();
      });
    });
  });
  await done;
  const seconds = (performance.now() - started) / 1000;
  await connection.close();
  return total / seconds;
}

async function throughReader(url: string, queue: string): Promise<number> {
  const sink = new RecordingSink(true);
  const reader = new RabbitMqReader(readerContext(rabbitTrigger({ queue, prefetch }), url, sink));
  const started = performance.now();
  reader.start();
  await eventually(() => (sink.deliveries.length === total ? true : undefined), 600_000, 'every message');
  const seconds = (performance.now() - started) / 1000;
  await reader.stop();
  return total / seconds;
}

const server = await startRabbitMqServer();
try {
  // Alternated, twice each: the broker warms up, and the machine is shared.
  const rates: { bare: number[]; reader: number[] } = { bare: [], reader: [] };
  for (const round of [1, 2]) {
    await fill(server.url, `bare${round}`);
    rates.bare.push(await bare(server.url, `bare${round}`));
    await fill(server.url, `reader${round}`);
    rates.reader.push(await throughReader(server.url, `reader${round}`));
  }
  const show = (r: number[]) => r.map((x) => `${Math.round(x)}`).join(', ');
  console.log(`${total} messages of ~230 bytes, prefetch ${prefetch}, msg/s per round`);
  console.log(`bare amqplib consumer: ${show(rates.bare)}`);
  console.log(`RabbitMqReader:        ${show(rates.reader)}`);
} finally {
  await server.stop();
}
