import assert from 'node:assert/strict';
import { LatencyHistogram } from '@nimbus/api/latency-histogram';
import { VersionOutcomeMeter } from '../src/routing/version-outcomes.js';

const p99Of = (buckets: Readonly<Record<string, number>>) => {
  const histogram = new LatencyHistogram();
  histogram.add(buckets);
  return histogram.quantile(0.99);
};

describe('a version’s call outcomes, as a rollout judges them', () => {
  it('counts a call held while the version woke, and its failure, but not its wait', () => {
    const meter = new VersionOutcomeMeter();
    for (let i = 0; i < 50; i++) meter.record(200, 5);
    // The new version's first calls waited 400 ms for its first replica.
    for (let i = 0; i < 5; i++) meter.record(200, 400, true);
    meter.record(503, 30_000, true);
    const outcomes = meter.take();
    assert.equal(outcomes?.requests, 56);
    assert.equal(outcomes?.errors, 1);
    const p99 = p99Of(outcomes?.latency ?? {}) as number;
    assert.ok(p99 < 10, `p99 ${p99} ms is the replicas' answers, not the wake`);
  });

  it('times a call that was not held, however slow', () => {
    const meter = new VersionOutcomeMeter();
    for (let i = 0; i < 10; i++) meter.record(200, 400);
    const p99 = p99Of(meter.take()?.latency ?? {}) as number;
    assert.ok(p99 > 300, `p99 ${p99} ms`);
    assert.equal(meter.take(), undefined, 'the next interval starts empty');
  });
});
