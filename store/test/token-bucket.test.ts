import assert from 'node:assert/strict';
import type { RateBucket } from '../src/rate-limit-store.js';
import { type BucketState, bucketTtlMs, takeTokens } from '../src/token-bucket.js';

const T0 = Date.parse('2026-12-06T10:00:00Z');
const tenPerSecond: RateBucket = { key: 'fn', perSecond: 10, burst: 20 };
const halfPerSecond: RateBucket = { key: 'anon', perSecond: 0.5, burst: 1 };

describe('takeTokens: the token bucket both rate-limit stores run', () => {
  const cases: {
    name: string;
    buckets: RateBucket[];
    states: (BucketState | undefined)[];
    now: number;
    allowed: boolean;
    bucket?: number;
    retryAfterMs?: number;
    tokens: number[];
  }[] = [
    {
      name: 'a bucket never seen is full: the call takes one of its burst',
      buckets: [tenPerSecond],
      states: [undefined],
      now: T0,
      allowed: true,
      tokens: [19],
    },
    {
      name: 'an empty bucket refuses, with the time to one token (100 ms at 10/s)',
      buckets: [tenPerSecond],
      states: [{ tokens: 0, at: T0 }],
      now: T0,
      allowed: false,
      bucket: 0,
      retryAfterMs: 100,
      tokens: [0],
    },
    {
      name: 'it refills with time since the last look: 250 ms at 10/s is 2.5 tokens',
      buckets: [tenPerSecond],
      states: [{ tokens: 0, at: T0 }],
      now: T0 + 250,
      allowed: true,
      tokens: [1.5],
    },
    {
      name: 'never past its burst, however long it was left',
      buckets: [tenPerSecond],
      states: [{ tokens: 3, at: T0 }],
      now: T0 + 3_600_000,
      allowed: true,
      tokens: [19],
    },
    {
      name: 'a clock that went back refills nothing',
      buckets: [tenPerSecond],
      states: [{ tokens: 0.5, at: T0 }],
      now: T0 - 5_000,
      allowed: false,
      bucket: 0,
      retryAfterMs: 50,
      tokens: [0.5],
    },
    {
      name: 'two buckets: one empty refuses and the other keeps its token',
      buckets: [tenPerSecond, halfPerSecond],
      states: [
        { tokens: 5, at: T0 },
        { tokens: 0, at: T0 },
      ],
      now: T0,
      allowed: false,
      bucket: 1,
      retryAfterMs: 2_000,
      tokens: [5, 0],
    },
    {
      name: 'two empty buckets: the wait is the longer one',
      buckets: [tenPerSecond, halfPerSecond],
      states: [
        { tokens: 0, at: T0 },
        { tokens: 0.75, at: T0 },
      ],
      now: T0,
      allowed: false,
      bucket: 1,
      retryAfterMs: 500,
      tokens: [0, 0.75],
    },
    {
      name: 'two buckets with tokens: one from each',
      buckets: [tenPerSecond, halfPerSecond],
      states: [{ tokens: 5, at: T0 }, undefined],
      now: T0,
      allowed: true,
      tokens: [4, 0],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { decision, states } = takeTokens(c.buckets, c.states, c.now);
      assert.equal(decision.allowed, c.allowed);
      if (!decision.allowed) {
        assert.equal(decision.bucket, c.bucket);
        assert.equal(decision.retryAfterMs, c.retryAfterMs);
      }
      assert.deepEqual(
        states.map((s) => Math.round(s.tokens * 1000) / 1000),
        c.tokens,
      );
      assert.ok(states.every((s) => s.at === c.now));
    });
  }

  it('a flood at twice the rate for ten seconds is admitted at the rate plus the burst', () => {
    let state: BucketState | undefined;
    let admitted = 0;
    for (let t = 0; t < 10_000; t += 50) {
      const { decision, states } = takeTokens([tenPerSecond], [state], T0 + t);
      state = states[0];
      if (decision.allowed) admitted++;
    }
    assert.equal(admitted, 20 + 100 - 1);
  });

  it('keeps a bucket until it has refilled, and a second more', () => {
    assert.equal(bucketTtlMs(tenPerSecond), 3_000);
    assert.equal(bucketTtlMs(halfPerSecond), 3_000);
  });
});
