import assert from 'node:assert/strict';
import { LatencyHistogram } from '@nimbus/api/latency-histogram';
import { RolloutWindow } from '../src/rollout/rollout-window.js';

function outcomes(requests: number, errors: number, latencyMs: number) {
  const h = new LatencyHistogram();
  for (let i = 0; i < requests; i++) h.record(latencyMs);
  return { requests, errors, latency: h.toSparse() };
}

describe('RolloutWindow: both versions over the same window', () => {
  it('sums every gateway’s reports per version and reads their p99', () => {
    const w = new RolloutWindow('v3', 'v4', 0);
    w.add('v3', outcomes(90, 1, 10));
    w.add('v3', outcomes(110, 1, 12));
    w.add('v4', outcomes(20, 4, 200));
    w.add('v4', outcomes(5, 0, 20));
    const { stable, candidate } = w.observation();
    assert.equal(stable.requests, 200);
    assert.equal(stable.errors, 2);
    assert.ok((stable.p99Ms as number) > 10 && (stable.p99Ms as number) <= 12 * 1.19);
    assert.equal(candidate.requests, 25);
    assert.equal(candidate.errors, 4);
    assert.ok((candidate.p99Ms as number) > 168, `the slow calls set v4's p99: ${candidate.p99Ms}`);
  });

  it('has nothing for a version no report named yet', () => {
    const w = new RolloutWindow('v3', 'v4', 0);
    assert.deepEqual(w.observation().candidate, { requests: 0, errors: 0, p99Ms: undefined });
  });

  it('ignores versions outside the rollout and counts a gateway could not have seen', () => {
    const w = new RolloutWindow('v3', 'v4', 0);
    w.add('v2', outcomes(50, 50, 5));
    w.add('v4', { requests: 3, errors: 4, latency: {} });
    w.add('v4', { requests: -1, errors: 0, latency: {} });
    w.add('v4', { requests: 1.5, errors: 0, latency: {} });
    w.add('v4', { requests: Number.POSITIVE_INFINITY, errors: 0, latency: {} });
    assert.deepEqual(w.observation(), {
      stable: { requests: 0, errors: 0, p99Ms: undefined },
      candidate: { requests: 0, errors: 0, p99Ms: undefined },
    });
  });
});
