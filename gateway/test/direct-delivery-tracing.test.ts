import assert from 'node:assert/strict';
import { type ResolvedSource, createLogger } from '@nimbus/api';
import type { SourceEvent } from '@nimbus/sources';
import { type DeadLetterStore, createMemoryStores } from '@nimbus/store';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { ManualClock, eventually } from '@nimbus/testkit';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { BufferedRequest } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { DirectDelivery } from '../src/sources/direct-delivery.js';
import { answer, byAttempt, parentOf } from './delivery-outcomes.js';

const PUBLISHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PUBLISHER_SPAN = 'b7ad6b7169203331';

const source: ResolvedSource<'rabbitmq'> = {
  namespace: 'shop',
  function: 'jobs',
  name: 'queue',
  kind: 'rabbitmq',
  spec: { connection: { name: 'broker', key: 'url' }, queue: 'jobs' },
  maxDeliver: 3,
  backoffMs: [1_000],
  concurrency: 4,
};

/** A RabbitMQ message as its reader hands it on, with the trace context its publisher set (or none). */
const event = (id: string, trace: Record<string, string> = {}): SourceEvent => ({
  id,
  type: 'dev.nimbus.rabbitmq.message',
  source: 'amqp://127.0.0.1:5672/%2F#jobs',
  subject: 'job.new',
  time: 1_800_000_000_000,
  contentType: 'application/json',
  data: new TextEncoder().encode('{"job":1}'),
  extensions: { routingkey: 'job.new', ...trace },
});

describe('RabbitMQ deliveries straight from the queue: a span for each attempt (in-memory exporter)', function () {
  this.timeout(10_000);
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let clock: ManualClock;
  let statuses: number[];
  let requests: BufferedRequest[];
  const routes = new RouteTable();
  routes.upsert({ name: 'jobs', namespace: 'shop', timeoutMs: 1000, concurrency: 1, auth: 'none' });

  const delivery = (deadLetters: DeadLetterStore = createMemoryStores().deadLetters, traced = true) =>
    new DirectDelivery({
      routes,
      invoker: {
        call: async (_, request) => {
          requests.push(request);
          return answer(statuses.shift() ?? 200);
        },
      },
      deadLetters,
      clock,
      log: createLogger({}, 'error', () => {}),
      ...(traced ? { tracing } : {}),
    });
  const spans = (count: number): Promise<ReadableSpan[]> =>
    eventually(
      async () => {
        await tracing.flush();
        const found = exporter.getFinishedSpans().filter((s) => s.name === 'trigger shop/jobs');
        return found.length >= count ? found : undefined;
      },
      5_000,
      `${count} delivery spans`,
    );
  /** Steps the clock over each backoff once its attempt has been made and its wait begun. */
  const stepThrough = async (attempts: number) => {
    for (let n = 1; n < attempts; n++) {
      const waiting = async () => (requests.length === n && clock.pending === 1 ? true : undefined);
      await eventually(waiting, 2_000, `the backoff after attempt ${n}`);
      clock.advance(1_000);
    }
  };

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-gateway' }, exporter);
    clock = new ManualClock(1_800_000_000_000);
    statuses = [];
    requests = [];
  });

  it('continues the message’s traceparent: a consumer span under it, the replica’s parent', async () => {
    const traced = event('m-1', {
      traceparent: `00-${PUBLISHER_TRACE}-${PUBLISHER_SPAN}-01`,
      tracestate: 'shop=1',
    });
    assert.equal(await delivery().deliver(source, traced, 1), 'delivered');
    const [span] = await spans(1);
    assert.ok(span !== undefined);
    assert.equal(span.kind, SpanKind.CONSUMER);
    assert.equal(span.spanContext().traceId, PUBLISHER_TRACE);
    assert.equal(span.parentSpanContext?.spanId, PUBLISHER_SPAN);
    assert.deepEqual(span.attributes, {
      'nimbus.function': 'shop/jobs',
      'nimbus.trigger': 'queue',
      'nimbus.attempt': 1,
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'jobs',
      'messaging.rabbitmq.destination.routing_key': 'job.new',
      'messaging.message.id': 'm-1',
      'http.response.status_code': 200,
      'nimbus.retried': false,
    });
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(parentOf(requests[0]), { traceId: PUBLISHER_TRACE, spanId: span.spanContext().spanId });
    assert.equal(requests[0]?.headers.tracestate, 'shop=1');
    assert.equal(requests[0]?.headers['ce-traceparent'], undefined, 'trace context is not a ce- attribute');
  });

  it('each attempt of a failing message is a span: retried twice, then dead-lettered, all errors', async () => {
    statuses = [500, 503, 502];
    const traced = event('m-2', { traceparent: `00-${PUBLISHER_TRACE}-${PUBLISHER_SPAN}-01` });
    const settled = delivery().deliver(source, traced, 1);
    await stepThrough(3);
    assert.equal(await settled, 'dead-lettered');
    const found = await spans(3);
    const attempts = byAttempt(found);
    assert.deepEqual(
      attempts.map((s) => [
        s.attributes['nimbus.attempt'],
        s.attributes['nimbus.retried'],
        s.attributes['nimbus.dead_lettered'],
        s.attributes['http.response.status_code'],
        s.status.code,
        s.spanContext().traceId,
        s.parentSpanContext?.spanId,
      ]),
      [
        [1, true, undefined, 500, SpanStatusCode.ERROR, PUBLISHER_TRACE, PUBLISHER_SPAN],
        [2, true, undefined, 503, SpanStatusCode.ERROR, PUBLISHER_TRACE, PUBLISHER_SPAN],
        [3, false, true, 502, SpanStatusCode.ERROR, PUBLISHER_TRACE, PUBLISHER_SPAN],
      ],
    );
    assert.match(String(attempts[2]?.status.message), /attempt 3: the function answered 502/);
    // Each attempt's request names its own span as the replica's parent.
    assert.deepEqual(
      requests.map((r) => parentOf(r).spanId),
      attempts.map((s) => s.spanContext().spanId),
    );
  });

  it('a redelivered message’s span counts from the attempt the broker knows', async () => {
    statuses = [500];
    assert.equal(await delivery().deliver(source, event('m-3'), 3), 'dead-lettered');
    const [span] = await spans(1);
    assert.equal(span?.attributes['nimbus.attempt'], 3);
    assert.equal(span?.attributes['nimbus.dead_lettered'], true);
    assert.equal(span?.parentSpanContext, undefined, 'no traceparent: a trace of its own');
  });

  it('a dead letter that cannot be written: the span says it goes again, and the delivery rejects', async () => {
    statuses = [500];
    const unreachable = {
      ...createMemoryStores().deadLetters,
      add: () => Promise.reject(new Error('the dead letters are unreachable')),
    } as DeadLetterStore;
    await assert.rejects(delivery(unreachable).deliver(source, event('m-4'), 3), /unreachable/);
    const [span] = await spans(1);
    assert.equal(span?.attributes['nimbus.retried'], true);
    assert.equal(span?.attributes['nimbus.dead_lettered'], undefined);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.match(String(span?.status.message), /unreachable/);
  });

  it('a malformed traceparent is dropped: the delivery is a root, the replica gets its own', async () => {
    const forged = event('m-5', { traceparent: `00-${PUBLISHER_TRACE}-zz-01`, tracestate: 'forged=1' });
    assert.equal(await delivery().deliver(source, forged, 1), 'delivered');
    const [span] = await spans(1);
    assert.equal(span?.parentSpanContext, undefined);
    assert.notEqual(span?.spanContext().traceId, PUBLISHER_TRACE);
    assert.deepEqual(parentOf(requests[0]), {
      traceId: span?.spanContext().traceId,
      spanId: span?.spanContext().spanId,
    });
    assert.equal(requests[0]?.headers.tracestate, undefined);
  });

  it('tracing off: no span, and the message’s traceparent reaches the function as it came', async () => {
    const traceparent = `00-${PUBLISHER_TRACE}-${PUBLISHER_SPAN}-01`;
    assert.equal(
      await delivery(undefined, false).deliver(source, event('m-6', { traceparent }), 1),
      'delivered',
    );
    await tracing.flush();
    assert.deepEqual(exporter.getFinishedSpans(), []);
    assert.equal(requests[0]?.headers.traceparent, traceparent);
  });
});
