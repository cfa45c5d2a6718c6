import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, schedulesOf, validateFunction } from '@nimbus/api';
import { MemoryBus, triggerConsumerName } from '@nimbus/bus';
import { createMemoryStores } from '@nimbus/store';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { eventually } from '@nimbus/testkit';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { BufferedRequest } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { ScheduleInvoker } from '../src/schedules/schedule-invoker.js';
import { TriggerWorker } from '../src/triggers/trigger-worker.js';
import { answer, byAttempt, parentOf } from './delivery-outcomes.js';

const PUBLISHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PUBLISHER_SPAN = 'b7ad6b7169203331';

function fn(name: string, trigger: Record<string, unknown>): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'shop' },
    spec: { source: { inline: 'export default () => 1' }, triggers: [trigger] },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

describe('trigger events and cron ticks: a span for each delivery (in-memory exporter)', function () {
  this.timeout(10_000);
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  const routes = new RouteTable();
  const requests: BufferedRequest[] = [];
  /** Answers by function: `broken` fails, the rest succeed. */
  const invoker = {
    call: async (route: { name: string }, request: BufferedRequest) => {
      requests.push(request);
      return answer(route.name === 'broken' ? 500 : 200);
    },
  };
  const spans = (name: string, count: number): Promise<ReadableSpan[]> =>
    eventually(
      async () => {
        await tracing.flush();
        const found = exporter.getFinishedSpans().filter((s) => s.name === name);
        return found.length >= count ? found : undefined;
      },
      5_000,
      `${count} ${name} spans`,
    );

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-gateway' }, exporter);
    requests.length = 0;
    for (const name of ['orders', 'broken', 'nightly'])
      routes.upsert({ name, namespace: 'shop', timeoutMs: 1000, concurrency: 1, auth: 'none' });
  });

  describe('NATS triggers', () => {
    let bus: MemoryBus;
    let worker: TriggerWorker;
    const functions = [
      fn('orders', { nats: { subject: 'shop.orders.*', maxDeliver: 3, backoff: ['10ms'] } }),
      fn('broken', { nats: { subject: 'shop.broken', maxDeliver: 2, backoff: ['10ms'] } }),
    ];

    beforeEach(async () => {
      bus = new MemoryBus();
      worker = new TriggerWorker({
        directory: { list: () => functions, get: () => undefined },
        routes,
        invoker,
        bus: async () => bus,
        deadLetters: createMemoryStores().deadLetters,
        leases: createMemoryStores().claims,
        owner: 'test-gateway',
        manageTopology: true,
        concurrency: 4,
        syncMs: 60_000,
        log: createLogger({}, 'error', () => {}),
        now: Date.now,
        tracing,
      });
      await worker.sync();
    });

    afterEach(async () => {
      await worker.stop();
      await bus.close();
    });

    it('continues the event’s traceparent: a consumer span under it, the replica’s parent', async () => {
      await bus.publish('shop.orders.eu', new TextEncoder().encode('{}'), {
        msgId: 'order-1',
        headers: { traceparent: `00-${PUBLISHER_TRACE}-${PUBLISHER_SPAN}-01`, tracestate: 'shop=1' },
      });
      const [span] = await spans('trigger shop/orders', 1);
      assert.ok(span !== undefined);
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.spanContext().traceId, PUBLISHER_TRACE);
      assert.equal(span.parentSpanContext?.spanId, PUBLISHER_SPAN);
      assert.deepEqual(span.attributes, {
        'nimbus.function': 'shop/orders',
        // The trigger's durable, named for its subject pattern, not the event's subject.
        'nimbus.trigger': triggerConsumerName('shop', 'orders', 'shop.orders.*'),
        'nimbus.attempt': 1,
        'messaging.system': 'nats',
        'messaging.destination.name': 'shop.orders.eu',
        'messaging.message.id': 'order-1',
        'http.response.status_code': 200,
        'nimbus.retried': false,
      });
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.deepEqual(parentOf(requests[0]), {
        traceId: PUBLISHER_TRACE,
        spanId: span.spanContext().spanId,
      });
      assert.equal(requests[0]?.headers.tracestate, 'shop=1');
    });

    it('each delivery of a failing event is a span: retried, then not, both errors', async () => {
      await bus.publish('shop.broken', new TextEncoder().encode('x'), {
        msgId: 'broken-1',
        headers: { traceparent: `00-${PUBLISHER_TRACE}-${PUBLISHER_SPAN}-01` },
      });
      const found = await spans('trigger shop/broken', 2);
      const attempts = byAttempt(found);
      assert.deepEqual(
        attempts.map((s) => [
          s.attributes['nimbus.attempt'],
          s.attributes['nimbus.retried'],
          s.attributes['http.response.status_code'],
          s.status.code,
          s.parentSpanContext?.spanId,
        ]),
        [
          [1, true, 500, SpanStatusCode.ERROR, PUBLISHER_SPAN],
          [2, false, 500, SpanStatusCode.ERROR, PUBLISHER_SPAN],
        ],
      );
      assert.match(String(attempts[1]?.status.message), /answered 500/);
    });

    it('a malformed traceparent on an event is dropped: the delivery is a root, the replica gets its own', async () => {
      await bus.publish('shop.orders.us', new TextEncoder().encode('{}'), {
        msgId: 'order-2',
        headers: { traceparent: `00-${PUBLISHER_TRACE}-zz-01`, tracestate: 'forged=1' },
      });
      const [span] = await spans('trigger shop/orders', 1);
      assert.equal(span?.parentSpanContext, undefined);
      assert.notEqual(span?.spanContext().traceId, PUBLISHER_TRACE);
      assert.deepEqual(parentOf(requests[0]), {
        traceId: span?.spanContext().traceId,
        spanId: span?.spanContext().spanId,
      });
      assert.equal(requests[0]?.headers.tracestate, undefined);
    });
  });

  describe('cron schedules', () => {
    const scheduleOf = (name: string) => {
      const [schedule] = schedulesOf(fn(name, { schedule: { cron: '0 3 * * *' } })).schedules;
      assert.ok(schedule !== undefined);
      return schedule;
    };
    const tick = Date.UTC(2026, 11, 7, 3);

    it('a tick is a root consumer span, the replica’s parent, with the schedule’s attributes', async () => {
      const schedule = scheduleOf('nightly');
      await new ScheduleInvoker(routes, invoker, tracing).fire(schedule, tick, new AbortController().signal);
      const [span] = await spans('schedule shop/nightly', 1);
      assert.ok(span !== undefined);
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.parentSpanContext, undefined);
      assert.deepEqual(span.attributes, {
        'nimbus.function': 'shop/nightly',
        'nimbus.schedule': schedule.key,
        'nimbus.schedule.cron': '0 3 * * *',
        'nimbus.schedule.tick': '2026-12-07T03:00:00.000Z',
        'nimbus.attempt': 1,
        'http.response.status_code': 200,
        'nimbus.retried': false,
      });
      assert.deepEqual(parentOf(requests[0]), {
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
    });

    it('a failed tick: the span says why, and fire still rejects', async () => {
      const invokerOf = new ScheduleInvoker(routes, invoker, tracing);
      await assert.rejects(
        invokerOf.fire(scheduleOf('broken'), tick, new AbortController().signal),
        /answered 500/,
      );
      const [span] = await spans('schedule shop/broken', 1);
      assert.equal(span?.status.code, SpanStatusCode.ERROR);
      assert.equal(span?.attributes['nimbus.retried'], false);
    });

    it('tracing off: no span, and the tick’s request has no traceparent', async () => {
      await new ScheduleInvoker(routes, invoker).fire(
        scheduleOf('nightly'),
        tick,
        new AbortController().signal,
      );
      await tracing.flush();
      assert.deepEqual(exporter.getFinishedSpans(), []);
      assert.equal(requests[0]?.headers.traceparent, undefined);
    });
  });
});
