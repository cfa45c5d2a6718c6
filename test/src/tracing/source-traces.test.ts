import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { secretEnvName } from '@nimbus/gateway';
import {
  type RabbitMqServer,
  type RedisServer,
  eventually,
  startRabbitMqServer,
  startRedisServer,
} from '@nimbus/testkit';
import amqp from 'amqplib';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';
import { type StoredSpan, TracingBackend } from '../harness/tracing-backend.js';

const PUBLISHER_SPAN = 'b7ad6b7169203331';
const CONSUMER = 5;
const ERROR = 2;

/** Answers 500 to a message whose data has "fail". */
const HANDLER = `export default async (event) => {
  const data = event.cloudEvent?.data;
  if (data && data.fail) return { statusCode: 500, body: 'cannot take this one' };
  return { ok: true };
};`;

/**
 * RabbitMQ messages run straight from their queue, traced in local mode into a real Jaeger: each
 * attempt a consumer span under the traceparent its publisher set in the AMQP headers, the
 * handler's span under it, and a message that keeps failing shows each attempt and its dead letter.
 */
describe('RabbitMQ deliveries are traced under the message’s traceparent (local mode, Jaeger)', function () {
  this.timeout(120_000);
  let backend: TracingBackend;
  let redis: RedisServer;
  let nats: SecuredNats;
  let rabbit: RabbitMqServer;
  let dir: string;
  let platform: LocalModeProcess;

  before(async () => {
    [backend, redis, nats, rabbit] = await Promise.all([
      TracingBackend.start(),
      startRedisServer(),
      startSecuredNats(),
      startRabbitMqServer(),
    ]);
    dir = await functionsFolder({
      'jobs.yaml': inlineFunction(
        'jobs',
        HANDLER,
        'scale:\n  min: 1\n  max: 1\ntriggers:\n  - name: queue\n    rabbitmq:\n      connection: { name: broker, key: url }\n      queue: jobs\n      declare: true\n      maxDeliver: 2\n      backoff: [100ms]',
      ),
    });
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      NIMBUS_TRACING_ENDPOINT: backend.otlpTracesUrl,
      [secretEnvName('broker', 'url')]: rabbit.url,
    });
  });

  after(async function () {
    this.timeout(60_000);
    await platform?.stop();
    await Promise.all([backend?.stop(), nats?.stop(), redis?.stop(), rabbit?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const publish = async (body: unknown, traceId: string) => {
    // The queue exists once the reader has declared it and consumes.
    await eventually(
      async () => ((await rabbit.queueCounts('jobs'))?.consumers === 1 ? true : undefined),
      60_000,
      'the reader to consume',
    );
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue('jobs', Buffer.from(JSON.stringify(body)), {
      contentType: 'application/json',
      headers: { traceparent: `00-${traceId}-${PUBLISHER_SPAN}-01` },
    });
    await channel.waitForConfirms();
    await connection.close();
  };
  const stored = (traceId: string, enough: (spans: StoredSpan[]) => boolean) =>
    eventually(
      async () => {
        const spans = await backend.trace(traceId);
        return enough(spans) ? spans : undefined;
      },
      30_000,
      `the spans of trace ${traceId} in Jaeger`,
    );
  const deliveries = (spans: StoredSpan[]) =>
    spans
      .filter((s) => s.name === 'trigger default/jobs')
      .sort((a, b) => Number(a.attributes['nimbus.attempt']) - Number(b.attributes['nimbus.attempt']));

  it('a delivered message: the attempt under the publisher’s span, the handler under the attempt', async () => {
    const traceId = '7af7651916cd43dd8448eb211c80319c';
    await publish({ job: 1 }, traceId);
    const spans = await stored(
      traceId,
      (s) => deliveries(s).length === 1 && s.some((x) => x.name === 'handler'),
    );
    const [attempt] = deliveries(spans);
    assert.ok(attempt !== undefined);
    assert.equal(attempt.kind, CONSUMER);
    assert.equal(attempt.parentSpanId, PUBLISHER_SPAN);
    assert.equal(attempt.service, 'nimbus-gateway');
    assert.equal(attempt.attributes['nimbus.attempt'], 1);
    assert.equal(attempt.attributes['messaging.system'], 'rabbitmq');
    assert.equal(attempt.attributes['messaging.destination.name'], 'jobs');
    assert.equal(attempt.attributes['http.response.status_code'], 200);
    assert.notEqual(attempt.status.code, ERROR);
    // The handler's span hangs under the attempt, through the replica's own spans.
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const handler = spans.find((s) => s.name === 'handler') as StoredSpan;
    let up: StoredSpan | undefined = handler;
    while (up !== undefined && up.spanId !== attempt.spanId) up = byId.get(up.parentSpanId ?? '');
    assert.ok(up !== undefined, `handler under the attempt: ${spans.map((s) => s.name).join(', ')}`);
  });

  it('a message that keeps failing: each attempt an error span, the last one dead-lettered', async () => {
    const traceId = '8af7651916cd43dd8448eb211c80319c';
    await publish({ fail: true }, traceId);
    const spans = await stored(traceId, (s) => deliveries(s).length === 2);
    assert.deepEqual(
      deliveries(spans).map((s) => [
        s.attributes['nimbus.attempt'],
        s.attributes['nimbus.retried'],
        s.attributes['nimbus.dead_lettered'],
        s.status.code,
        s.parentSpanId,
      ]),
      [
        [1, true, undefined, ERROR, PUBLISHER_SPAN],
        [2, false, true, ERROR, PUBLISHER_SPAN],
      ],
    );
    assert.match(String(deliveries(spans)[1]?.status.message), /attempt 2: the function answered 500/);
  });
});
