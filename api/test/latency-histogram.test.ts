import assert from 'node:assert/strict';
import { BUCKET_COUNT, LatencyHistogram, bucketOf, bucketUpperMs } from '../src/latency-histogram.js';

describe('LatencyHistogram: mergeable latencies for comparing versions', () => {
  it('puts each latency in the bucket whose bounds hold it', () => {
    for (const ms of [0.3, 1, 2, 7.5, 42, 999, 30_000]) {
      const i = bucketOf(ms);
      assert.ok(bucketUpperMs(i) >= ms && bucketUpperMs(i - 1) < ms, `${ms} ms in bucket ${i}`);
    }
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(-5), 0);
    assert.equal(bucketOf(Number.NaN), 0);
    assert.equal(bucketOf(1e12), BUCKET_COUNT - 1);
    assert.equal(bucketOf(1), 8, 'exactly on a bound stays in the bucket it closes');
  });

  it('reads p50 and p99 within a bucket’s width (19 %) of the true values', () => {
    const h = new LatencyHistogram();
    // 1..1000 ms, one each: p50 500, p99 990.
    for (let ms = 1; ms <= 1000; ms++) h.record(ms);
    const p50 = h.quantile(0.5) as number;
    const p99 = h.quantile(0.99) as number;
    assert.ok(Math.abs(p50 - 500) / 500 < 0.19, `p50 ${p50}`);
    assert.ok(Math.abs(p99 - 990) / 990 < 0.19, `p99 ${p99}`);
    assert.ok((h.quantile(1) as number) >= 1000);
  });

  it('adds up counts from other gateways exactly, as if one had seen everything', () => {
    const one = new LatencyHistogram();
    const two = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 500; i++) {
      const fast = 2 + (i % 7);
      const slow = 80 + (i % 13);
      one.record(fast);
      two.record(slow);
      all.record(fast);
      all.record(slow);
    }
    const merged = new LatencyHistogram();
    merged.add(one.toSparse());
    merged.add(two.toSparse());
    assert.equal(merged.count, 1000);
    assert.deepEqual(merged.toSparse(), all.toSparse());
    assert.equal(merged.quantile(0.99), all.quantile(0.99));
    assert.ok((merged.quantile(0.99) as number) > 80, 'the slow gateway sets the p99');
  });

  it('skips what a report could carry that is not a bucket and a count', () => {
    const h = new LatencyHistogram();
    h.add({
      '3': 2,
      '-1': 5,
      '1e9': 5,
      x: 5,
      '4.5': 5,
      '200': 5,
      '6': -3,
      '7': Number.NaN,
      '8': Number.POSITIVE_INFINITY,
    });
    assert.equal(h.count, 2);
    assert.deepEqual(h.toSparse(), { '3': 2 });
  });

  it('has no quantile when empty', () => {
    assert.equal(new LatencyHistogram().quantile(0.99), undefined);
  });
});
