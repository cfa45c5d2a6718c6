import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VersionOutcomes } from '@nimbus/api/traffic';
import { ManualClock, send } from '@nimbus/testkit';
import {
  MAX_OUTCOME_KEYS,
  ReportEndpoint,
  ReportError,
  isVersionKey,
  parseReport,
} from '../src/autoscale/report-endpoint.js';

describe('parseReport: a gateway concurrency report, checked', () => {
  it('takes a good report, stamped with the time it arrived', () => {
    const report = parseReport({ reporter: 'gw-a', functions: { 'd/f': { inflight: 2, held: 1 } } }, 1234);
    assert.deepEqual(report, { reporter: 'gw-a', at: 1234, functions: { 'd/f': { inflight: 2, held: 1 } } });
  });

  const refused: [string, unknown, string][] = [
    ['not an object', [1, 2], 'body'],
    ['no reporter', { functions: {} }, 'reporter'],
    ['an empty reporter', { reporter: '', functions: {} }, 'reporter'],
    ['a reporter name too long', { reporter: 'x'.repeat(254), functions: {} }, 'reporter'],
    ['functions as a list', { reporter: 'gw', functions: [] }, 'functions'],
    [
      'a negative count',
      { reporter: 'gw', functions: { 'd/f': { inflight: -1, held: 0 } } },
      'functions["d/f"].inflight',
    ],
    [
      'a fractional count',
      { reporter: 'gw', functions: { 'd/f': { inflight: 1, held: 0.5 } } },
      'functions["d/f"].held',
    ],
    [
      'a count as text',
      { reporter: 'gw', functions: { 'd/f': { inflight: '3', held: 0 } } },
      'functions["d/f"].inflight',
    ],
    [
      'a function without counts',
      { reporter: 'gw', functions: { 'd/f': null } },
      'functions["d/f"].inflight',
    ],
  ];
  for (const [what, body, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => parseReport(body, 0),
        (err: unknown) => err instanceof ReportError && err.field === field,
      );
    });
  }
});

describe('parseReport: version outcomes, from a caller assumed hostile', () => {
  const report = (outcomes: unknown) => ({ reporter: 'gw', functions: {}, outcomes });
  const good = { requests: 10, errors: 2, latency: { 12: 6, 40: 4 } };

  it('takes outcomes keyed by version route, and a report without them as before', () => {
    const parsed = parseReport(report({ 'team/hello@v2': good }), 7);
    assert.deepEqual(parsed.outcomes, { 'team/hello@v2': good });
    assert.equal(parseReport({ reporter: 'gw', functions: {} }, 7).outcomes, undefined);
    const noLatency = parseReport(report({ 'team/hello@v2': { requests: 0, errors: 0 } }), 7);
    assert.deepEqual(noLatency.outcomes, { 'team/hello@v2': { requests: 0, errors: 0, latency: {} } });
  });

  it('drops keys that name no version route, keeping the rest of the report', () => {
    const parsed = parseReport(
      report({
        'team/hello': good,
        'team/hello@latest': good,
        'team/hello@v0': good,
        'team/hello@v01': good,
        'team/Hello@v1': good,
        'a/b/c@v1': good,
        '@v1': good,
        '__proto__/x@v1': good,
        'team/hello@v3': good,
      }),
      7,
    );
    assert.deepEqual(Object.keys(parsed.outcomes ?? {}), ['team/hello@v3']);
    assert.equal(isVersionKey('team/hello@v12'), true);
    assert.equal(isVersionKey('team/hello@v12@v1'), false);
  });

  const refused: [string, unknown, string][] = [
    ['outcomes as a list', [], 'outcomes'],
    ['outcomes as text', 'many', 'outcomes'],
    ['an entry that is not an object', { 'd/f@v1': 3 }, 'outcomes["d/f@v1"]'],
    ['negative requests', { 'd/f@v1': { requests: -1, errors: 0 } }, 'outcomes["d/f@v1"].requests'],
    ['fractional errors', { 'd/f@v1': { requests: 3, errors: 0.5 } }, 'outcomes["d/f@v1"].errors'],
    ['requests as text', { 'd/f@v1': { requests: '3', errors: 0 } }, 'outcomes["d/f@v1"].requests'],
    [
      'requests beyond a safe integer',
      { 'd/f@v1': { requests: 2 ** 60, errors: 0 } },
      'outcomes["d/f@v1"].requests',
    ],
    ['more errors than requests', { 'd/f@v1': { requests: 3, errors: 4 } }, 'outcomes["d/f@v1"].errors'],
    [
      'latency as a list',
      { 'd/f@v1': { requests: 3, errors: 0, latency: [3] } },
      'outcomes["d/f@v1"].latency',
    ],
    [
      'a bucket past the last',
      { 'd/f@v1': { requests: 3, errors: 0, latency: { 101: 1 } } },
      'outcomes["d/f@v1"].latency',
    ],
    [
      'a bucket that is no index',
      { 'd/f@v1': { requests: 3, errors: 0, latency: { '-1': 1 } } },
      'outcomes["d/f@v1"].latency',
    ],
    [
      'a negative bucket count',
      { 'd/f@v1': { requests: 3, errors: 0, latency: { 5: -1 } } },
      'outcomes["d/f@v1"].latency["5"]',
    ],
    [
      'more latencies than requests',
      { 'd/f@v1': { requests: 3, errors: 0, latency: { 5: 2, 6: 2 } } },
      'outcomes["d/f@v1"].latency',
    ],
    [
      'too many versions',
      Object.fromEntries(
        Array.from({ length: MAX_OUTCOME_KEYS + 1 }, (_, i) => [`d/f@v${i + 1}`, { requests: 0, errors: 0 }]),
      ),
      'outcomes',
    ],
  ];
  for (const [what, outcomes, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => parseReport(report(outcomes), 0),
        (err: unknown) => err instanceof ReportError && err.field === field,
      );
    });
  }
});

describe('ReportEndpoint over HTTP: outcomes reach the listener once per report', () => {
  const token = 'a-report-token-of-some-length';
  let server: Server;
  let base: string;
  const received: Readonly<Record<string, VersionOutcomes>>[] = [];

  before(async () => {
    const endpoint = new ReportEndpoint(new ManualClock(1000), token);
    endpoint.onOutcomes((outcomes) => received.push(outcomes));
    server = createServer((req, res) => {
      if (!endpoint.handle(req, res, (req.url ?? '').split('?')[0] ?? '')) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());
  beforeEach(() => {
    received.length = 0;
  });

  const post = (body: unknown) =>
    send(base, '/v1/reports', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('hands each report’s outcomes on as they came, and a report without any hands nothing', async () => {
    const a = { 'team/hello@v2': { requests: 4, errors: 1, latency: { 10: 4 } } };
    const b = { 'team/hello@v2': { requests: 2, errors: 0, latency: { 11: 2 } } };
    assert.equal((await post({ reporter: 'gw-a', functions: {}, outcomes: a })).status, 204);
    assert.equal((await post({ reporter: 'gw-a', functions: {}, outcomes: b })).status, 204);
    assert.equal((await post({ reporter: 'gw-b', functions: {} })).status, 204);
    assert.deepEqual(received, [a, b]);
  });

  it('answers 400 naming the field for impossible counts, and hands nothing on', async () => {
    const reply = await post({
      reporter: 'gw-a',
      functions: { 'team/hello': { inflight: 1, held: 0 } },
      outcomes: { 'team/hello@v2': { requests: 1, errors: 5 } },
    });
    assert.equal(reply.status, 400);
    assert.deepEqual(reply.json(), {
      error: 'InvalidReport',
      field: 'outcomes["team/hello@v2"].errors',
      message: 'outcomes["team/hello@v2"].errors: is 5, more than the 1 requests',
    });
    assert.deepEqual(received, []);
  });
});
