import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually } from '@nimbus/testkit';
import { listeningSockets } from './harness/child-processes.js';
import { type StoredSpan, TracingBackend } from './harness/tracing-backend.js';

/**
 * The tracing backend's contract, with no OpenTelemetry SDK in the way: OTLP/HTTP JSON goes in
 * by hand, and the spans come back out of Jaeger's query API as they were sent.
 */
describe('tracing backend (Jaeger v2)', function () {
  // Its binary is built by the root hook; a cold start on a busy machine takes a few seconds.
  this.timeout(60_000);
  let backend: TracingBackend;

  before(async () => {
    backend = await TracingBackend.start();
  });

  after(async () => {
    await backend?.stop();
  });

  const hex = (bytes: number) => randomBytes(bytes).toString('hex');

  it('listens only on the loopback ports it was given', () => {
    const sockets = listeningSockets(backend.pid);
    const given = Object.values(backend.ports).sort();
    assert.deepEqual(
      sockets.map((s) => `${s.address}:${s.port}`).sort(),
      given.map((p) => `127.0.0.1:${p}`).sort(),
      backend.log,
    );
  });

  it('stores the spans an OTLP/HTTP JSON export sends, parent, attributes and all', async () => {
    const traceId = hex(16);
    const parentId = hex(8);
    const childId = hex(8);
    const linkedTrace = hex(16);
    const linkedSpan = hex(8);
    const service = `contract-${hex(4)}`;
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const request = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [
            {
              scope: { name: 'nimbus-contract-test' },
              spans: [
                {
                  traceId,
                  spanId: parentId,
                  name: 'invoke hello',
                  kind: 2,
                  startTimeUnixNano: String(nowNs),
                  endTimeUnixNano: String(nowNs + 5_000_000n),
                  attributes: [{ key: 'faas.trigger', value: { stringValue: 'http' } }],
                },
                {
                  traceId,
                  spanId: childId,
                  parentSpanId: parentId,
                  name: 'run handler',
                  kind: 1,
                  startTimeUnixNano: String(nowNs + 1_000_000n),
                  endTimeUnixNano: String(nowNs + 3_000_000n),
                  attributes: [
                    { key: 'nimbus.function', value: { stringValue: 'hello' } },
                    { key: 'nimbus.attempt', value: { intValue: '2' } },
                    { key: 'nimbus.cold', value: { boolValue: true } },
                  ],
                  links: [{ traceId: linkedTrace, spanId: linkedSpan }],
                  status: { code: 2, message: 'handler threw' },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(backend.otlpTracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    assert.equal(res.status, 200, await res.text());

    const spans = await eventually(
      async () => {
        const found = await backend.trace(traceId);
        return found.length >= 2 ? found : undefined;
      },
      15_000,
      `both spans of trace ${traceId} in Jaeger`,
    );
    assert.equal(spans.length, 2);
    const byName = new Map(spans.map((s) => [s.name, s]));
    const parent = byName.get('invoke hello') as StoredSpan;
    const child = byName.get('run handler') as StoredSpan;
    assert.ok(parent, `no parent among ${[...byName.keys()]}`);
    assert.ok(child, `no child among ${[...byName.keys()]}`);

    assert.equal(parent.spanId, parentId);
    assert.equal(parent.parentSpanId, undefined);
    assert.equal(parent.kind, 2);
    assert.equal(parent.attributes['faas.trigger'], 'http');
    assert.equal(parent.startUnixNano, nowNs);
    assert.equal(parent.durationMs, 5);

    assert.equal(child.spanId, childId);
    assert.equal(child.traceId, traceId);
    assert.equal(child.parentSpanId, parentId);
    assert.equal(child.service, service);
    assert.equal(child.resource['service.name'], service);
    assert.equal(child.attributes['nimbus.function'], 'hello');
    assert.equal(child.attributes['nimbus.attempt'], 2);
    assert.equal(child.attributes['nimbus.cold'], true);
    assert.equal(child.durationMs, 2);
    assert.deepEqual(child.status, { code: 2, message: 'handler threw' });
    assert.deepEqual(child.links, [{ traceId: linkedTrace, spanId: linkedSpan, attributes: {} }]);

    // The service's recent traces hold this one, with both spans.
    const traces = await backend.traces(service);
    assert.deepEqual(
      traces.map((t) => [t.traceId, t.spans.map((s) => s.spanId).sort()]),
      [[traceId, [parentId, childId].sort()]],
    );
  });

  it('gives no spans for a trace id never sent, and no traces for an unknown service', async () => {
    assert.deepEqual(await backend.trace(hex(16)), []);
    assert.deepEqual(await backend.traces(`never-${hex(4)}`), []);
  });
});
