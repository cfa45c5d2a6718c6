import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { IncomingMessage, Server } from 'node:http';
import { createLogger } from '@nimbus/api';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { eventually, send } from '@nimbus/testkit';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RefusedSpans, parseReplicaSpans } from '../src/invoke/replica-spans.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { upstream } from './replicas.js';

const ROOT = '1111111111111111';
const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
/** Now, in microseconds, read at each use: the suite may run minutes after this file loads. */
const micros = () => Date.now() * 1000;
const encode = (spans: unknown) => Buffer.from(JSON.stringify(spans)).toString('base64url');
const span = (i: string, p: string, extra: Record<string, unknown> = {}) => ({
  n: 'handler',
  i,
  p,
  k: 'server',
  s: micros() - 5000,
  e: micros(),
  ...extra,
});

describe('a replica’s spans, as the gateway checks them', () => {
  it('takes a tree rooted at the gateway’s span, with ids, times, attributes and errors kept', () => {
    const parsed = parseReplicaSpans(
      encode([
        span(B, A, { n: 'ctx.invoke other', k: 'client', x: 'boom' }),
        span(A, ROOT, { a: { 'x.y': 1 } }),
      ]),
      ROOT,
      micros(),
    );
    assert.ok(Array.isArray(parsed), String((parsed as RefusedSpans).reason));
    assert.deepEqual(
      parsed.map((s) => [s.name, s.spanId, s.parentSpanId, s.kind, s.error]),
      [
        ['ctx.invoke other', B, A, 'client', 'boom'],
        ['handler', A, ROOT, 'server', undefined],
      ],
    );
    assert.deepEqual(parsed[1]?.attributes, { 'x.y': 1 });
  });

  const refusals: [string, () => unknown, RegExp][] = [
    ['a parent in someone else’s trace', () => [span(A, 'cccccccccccccccc')], /outside this call/],
    ['the gateway’s own span id', () => [span(ROOT, ROOT)], /used twice/],
    ['an id used twice', () => [span(A, ROOT), span(A, ROOT)], /used twice/],
    ['a loop that never reaches the root', () => [span(A, B), span(B, A)], /loop/],
    [
      'too many spans',
      () => Array.from({ length: 65 }, (_, n) => span(n.toString(16).padStart(16, '1'), ROOT)),
      /more than 64/,
    ],
    [
      'the gateway’s attribute',
      () => [span(A, ROOT, { a: { 'nimbus.function': 'default/other' } })],
      /refused/,
    ],
    ['an object as an attribute value', () => [span(A, ROOT, { a: { x: { y: 1 } } })], /bad value/],
    ['a time far from now', () => [span(A, ROOT, { s: micros() - 3_600_000_000 })], /around now/],
    ['an end before its start', () => [span(A, ROOT, { e: micros() - 10_000 })], /bad times/],
    ['a control character in a name', () => [span(A, ROOT, { n: 'a\nb' })], /printable/],
    ['an all-zero id', () => [span('0000000000000000', ROOT)], /bad id/],
    ['not a list', () => ({ spans: [] }), /not a list/],
  ];
  for (const [what, spans, reason] of refusals)
    it(`refuses the batch for ${what}`, () => {
      const parsed = parseReplicaSpans(encode(spans()), ROOT, micros());
      assert.ok(parsed instanceof RefusedSpans, 'refused');
      assert.match(parsed.reason, reason);
    });

  it('refuses what is not base64url JSON', () => {
    assert.ok(parseReplicaSpans('%%%not-json', ROOT, micros()) instanceof RefusedSpans);
  });
});

describe('gateway: a replica’s spans recorded under its forward span (real sockets)', function () {
  this.timeout(20_000);
  let gateway: Gateway;
  let base: string;
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let replica: { server: Server; port: number };
  /** What the stand-in replica puts in its spans header, given the traceparent it received. */
  let reply: (parentId: string) => unknown;

  const start = async (traced: boolean) => {
    const routes = new RouteTable();
    exporter = new InMemorySpanExporter();
    tracing = startTracing({ endpoint: undefined, sampleRatio: 1, serviceName: 'nimbus-gateway' }, exporter);
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0' });
    gateway = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'error', () => {}),
      ...(traced ? { tracing } : {}),
    }).resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    // Stands in for function code that writes the header itself: whatever it claims is checked.
    replica = await upstream((req: IncomingMessage, res) => {
      const parent = String(req.headers.traceparent ?? '').split('-')[2] ?? '';
      res.setHeader('x-nimbus-spans', encode(reply(parent)));
      res.end('ok');
    });
    routes.upsert({ name: 'fn', namespace: 'default', timeoutMs: 5000, concurrency: 10, auth: 'none' });
    routes.setEndpoints('default', 'fn', [{ id: 'fn-0', host: '127.0.0.1', port: replica.port }], 'starting');
  };
  const ended = async (count: number): Promise<ReadableSpan[]> =>
    eventually(
      async () => {
        await tracing.flush();
        const spans = exporter.getFinishedSpans();
        return spans.length >= count ? spans : undefined;
      },
      5000,
      `${count} spans`,
    );

  afterEach(async () => {
    await gateway.close();
    replica.server.closeAllConnections();
    await new Promise((r) => replica.server.close(r));
  });

  it('records them with their ids, as the function’s service, with the function named by the gateway', async () => {
    await start(true);
    reply = (parent) => [span(A, parent)];
    const answer = await send(base, '/function/fn');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-nimbus-spans'], undefined, 'the caller never sees them');
    const spans = await ended(3);
    const forward = spans.find((s) => s.name === 'forward');
    const handler = spans.find((s) => s.name === 'handler');
    assert.ok(forward !== undefined && handler !== undefined, spans.map((s) => s.name).join(', '));
    assert.equal(handler.spanContext().spanId, A);
    assert.equal(handler.spanContext().traceId, forward.spanContext().traceId);
    assert.equal(handler.parentSpanContext?.spanId, forward.spanContext().spanId);
    assert.equal(handler.resource.attributes['service.name'], 'nimbus-function');
    assert.equal(handler.attributes['nimbus.function'], 'default/fn');
  });

  it('attack: spans hung on another trace’s span are refused, and the refusal is on the forward span', async () => {
    await start(true);
    reply = () => [span(A, 'cccccccccccccccc')];
    assert.equal((await send(base, '/function/fn')).status, 200);
    const spans = await ended(2);
    assert.equal(
      spans.find((s) => s.name === 'handler'),
      undefined,
    );
    const forward = spans.find((s) => s.name === 'forward');
    assert.match(String(forward?.attributes['nimbus.replica_spans_refused']), /outside this call/);
  });

  it('tracing off: the header is still not passed to the caller, and nothing is recorded', async () => {
    await start(false);
    reply = () => [span(A, ROOT)];
    const answer = await send(base, '/function/fn');
    assert.equal(answer.headers['x-nimbus-spans'], undefined);
    await tracing.flush();
    assert.equal(exporter.getFinishedSpans().length, 0);
  });
});
