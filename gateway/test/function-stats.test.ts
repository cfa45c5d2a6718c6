import 'reflect-metadata';
import assert from 'node:assert/strict';
import { ManualClock, eventually } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { GatewayMetrics } from '../src/metrics/gateway-metrics.js';
import { RouteTable } from '../src/routing/route-table.js';
import { FunctionStats } from '../src/stats/function-stats.js';
import { quantile } from '../src/stats/history-point.js';

const settings = (name: string) => ({
  name,
  namespace: 'home',
  timeoutMs: 1000,
  concurrency: 10,
  auth: 'none' as const,
});
const replica = (id: string) => ({ id, host: '127.0.0.1', port: 1 });

describe('the functions history behind the dashboard', () => {
  describe('quantiles from histogram buckets', () => {
    const histogram = (cumulative: number[]) => ({
      bounds: [0.01, 0.1, 1, Number.POSITIVE_INFINITY],
      cumulative,
      sum: 0,
      count: cumulative.at(-1) as number,
    });
    const cases: [string, number[], number, number][] = [
      ['all in the first bucket: linear from 0', [4, 4, 4, 4], 0.5, 0.005],
      ['the middle of the second bucket', [0, 10, 10, 10], 0.5, 0.055],
      ['p99 in the third of 100', [50, 90, 100, 100], 0.99, 0.1 + 0.9 * (9 / 10)],
      ['in the unbounded bucket: the largest bound', [0, 0, 0, 3], 0.5, 1],
      ['empty buckets before the rank are skipped', [0, 0, 2, 2], 0.5, 0.1 + 0.9 * 0.5],
    ];
    for (const [name, cumulative, q, expected] of cases)
      it(name, () => assert.ok(Math.abs(quantile(histogram(cumulative), q) - expected) < 1e-9));
    it('is NaN with no observations', () => assert.ok(Number.isNaN(quantile(histogram([0, 0, 0, 0]), 0.5))));
  });

  let clock: ManualClock;
  let registry: Registry;
  let routes: RouteTable;
  let metrics: GatewayMetrics;

  beforeEach(() => {
    clock = new ManualClock(1_000_000);
    registry = new Registry();
    routes = new RouteTable(clock);
    metrics = new GatewayMetrics(registry, routes);
  });

  const make = (points = 360, maxFunctions = 500) =>
    new FunctionStats({ intervalMs: 10_000, points, maxFunctions }, registry, routes, clock);

  it('makes a point per interval from the counters and the meter: rates, p50 and p99, concurrency, replicas, cold starts, errors', async () => {
    routes.upsert(settings('api'));
    routes.setEndpoints('home', 'api', [replica('a'), replica('b')]);
    const stats = make();
    await stats.start();
    assert.equal(clock.pending, 1, 'the next sample is on the clock');
    for (let i = 0; i < 8; i++) metrics.record('home/api', 200, 0.02);
    metrics.record('home/api', 502, 0.2);
    metrics.record('home/api', 502, 0.2);
    metrics.record('home/api', 404, 0.02);
    metrics.recordColdStart('home/api', 0.5);
    const load = routes.get('home', 'api')?.load;
    load?.begin();
    load?.begin();
    clock.advance(5_000);
    load?.end();
    await clock.advanceAndSettle(5_000);
    const history = await eventually(() => {
      const h = stats.history('home/api');
      return h !== undefined && h.t.length === 1 ? h : undefined;
    });
    assert.deepEqual(history.t, [1_010_000]);
    assert.deepEqual(history.invocationsPerSecond, [1.1]);
    assert.deepEqual(history.errorsPerSecond, [0.2], 'the 5xx answers; a 404 is the caller’s');
    // 11 answers: 9 at or below 25 ms, 2 in (100 ms, 250 ms].
    approx(history.latencyP50Ms[0], 10 + 15 * (5.5 / 9));
    approx(history.latencyP99Ms[0], 100 + 150 * ((10.89 - 9) / 2));
    approx(history.concurrency[0], (2 * 5 + 1 * 5) / 10);
    assert.deepEqual(history.replicas, [2]);
    assert.deepEqual(history.coldStarts, [1]);
    assert.deepEqual(history.coldStartMs, [500]);
    assert.deepEqual(stats.live()[0]?.recentErrors, [{ at: 1_010_000, code: 502, count: 2 }]);

    await clock.advanceAndSettle(10_000);
    const quiet = await eventually(() => {
      const h = stats.history('home/api');
      return h !== undefined && h.t.length === 2 ? h : undefined;
    });
    assert.deepEqual(quiet.invocationsPerSecond, [1.1, 0], 'a quiet interval is 0, not the total again');
    assert.deepEqual(quiet.latencyP50Ms, [quiet.latencyP50Ms[0], null], 'no latency without calls');
    assert.deepEqual(quiet.concurrency, [1.5, 1], 'a long request counts in every interval it spans');
    await stats.stop();
    assert.equal(clock.pending, 0, 'stopped: nothing left on the clock');
  });

  it("counts a versioned Function's calls on all its versions together, under its own name", async () => {
    routes.upsert(settings('shop'));
    routes.upsert(settings('shop@v1'));
    routes.upsert(settings('shop@v2'));
    const stats = make();
    await stats.start();
    for (let i = 0; i < 9; i++) metrics.record('home/shop@v1', 200, 0.02);
    metrics.record('home/shop@v2', 500, 0.2);
    await clock.advanceAndSettle(10_000);
    const history = await eventually(() => {
      const h = stats.history('home/shop');
      return h !== undefined && h.t.length === 1 ? h : undefined;
    });
    assert.deepEqual(history.invocationsPerSecond, [1]);
    assert.deepEqual(history.errorsPerSecond, [0.1]);
    // Both versions' latencies: 9 at or below 25 ms, one in (100 ms, 250 ms].
    approx(history.latencyP99Ms[0], 100 + 150 * ((9.9 - 9) / 1));
    assert.equal(stats.history('home/shop@v1'), undefined, 'a version has no history of its own');
    assert.equal(metrics.invocations('home/shop'), 10);
  });

  it('keeps the last `points` points, oldest first, in a fixed ring', async () => {
    routes.upsert(settings('api'));
    const stats = make(3);
    for (let i = 0; i < 6; i++) {
      for (let call = 0; call < i * 10; call++) metrics.record('home/api', 200, 0.001);
      await stats.sample();
      clock.advance(10_000);
    }
    const history = stats.history('home/api');
    assert.deepEqual(history?.t, [1_030_000, 1_040_000, 1_050_000]);
    assert.deepEqual(history?.invocationsPerSecond, [3, 4, 5]);
  });

  it('tracks at most maxFunctions, first come, and frees a removed function’s place', async () => {
    for (const name of ['a', 'b', 'c']) routes.upsert(settings(name));
    const stats = make(360, 2);
    await stats.sample();
    clock.advance(10_000);
    await stats.sample();
    assert.equal(stats.history('home/a')?.t.length, 1);
    assert.equal(stats.history('home/b')?.t.length, 1);
    assert.equal(stats.history('home/c'), undefined, 'beyond the cap: no history');
    assert.deepEqual(
      stats.live().map((f) => [f.name, f.tracked]),
      [
        ['a', true],
        ['b', true],
        ['c', false],
      ],
    );
    routes.remove('home', 'a');
    clock.advance(10_000);
    await stats.sample();
    assert.equal(stats.history('home/a'), undefined, 'a removed function’s history goes with it');
    assert.equal(stats.history('home/c')?.t.length, 0, 'c has its place, from a baseline');
  });

  it('never tracks the calls to no known function', async () => {
    routes.upsert(settings('api'));
    const stats = make();
    await stats.sample();
    metrics.record('', 404, 0.001);
    clock.advance(10_000);
    await stats.sample();
    assert.deepEqual(stats.history('home/api')?.invocationsPerSecond, [0]);
    assert.equal(stats.history(''), undefined);
  });
});

function approx(actual: number | null | undefined, expected: number): void {
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) < 0.01,
    `${actual} ≈ ${expected}`,
  );
}
