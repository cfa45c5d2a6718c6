import assert from 'node:assert/strict';
import type { FunctionSpec } from '@nimbus/api';
import {
  type AttemptDecision,
  type AttemptOutcome,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  decideAfterAttempt,
  retryAfterMs,
  retryDelay,
  retryPolicyOf,
} from '../src/async/retry-policy.js';

const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: 3,
  retryOn: new Set([429, 500, 502, 503, 504]),
  initialMs: 1_000,
  maxMs: 60_000,
  ...over,
});

describe('retryPolicyOf (spec.async)', () => {
  const cases: [
    string,
    Partial<FunctionSpec> | undefined,
    Omit<RetryPolicy, 'retryOn'> & { retryOn: number[] },
  ][] = [
    [
      'no spec: the defaults',
      undefined,
      { maxAttempts: 3, retryOn: [429, 500, 502, 503, 504], initialMs: 1000, maxMs: 300_000 },
    ],
    [
      'a spec from before the field',
      { timeout: '30s' },
      { maxAttempts: 3, retryOn: [429, 500, 502, 503, 504], initialMs: 1000, maxMs: 300_000 },
    ],
    [
      'everything given',
      { async: { maxAttempts: 7, retryOn: [503], backoff: { initial: '250ms', max: '1m30s' } } },
      { maxAttempts: 7, retryOn: [503], initialMs: 250, maxMs: 90_000 },
    ],
    [
      'an empty retryOn: connection failures only',
      { async: { maxAttempts: 2, retryOn: [], backoff: { initial: '1s', max: '1s' } } },
      { maxAttempts: 2, retryOn: [], initialMs: 1000, maxMs: 1000 },
    ],
    [
      'out-of-range values fall back (an object the API server never checked)',
      { async: { maxAttempts: 0, retryOn: [500], backoff: { initial: 'soon', max: '1s' } } },
      { maxAttempts: 3, retryOn: [500], initialMs: 1000, maxMs: 1000 },
    ],
    [
      'a max below the initial wait is raised to it',
      { async: { maxAttempts: 3, retryOn: [500], backoff: { initial: '10s', max: '1s' } } },
      { maxAttempts: 3, retryOn: [500], initialMs: 10_000, maxMs: 10_000 },
    ],
  ];
  for (const [name, spec, expected] of cases) {
    it(name, () => {
      const got = retryPolicyOf(spec);
      assert.deepEqual({ ...got, retryOn: [...got.retryOn] }, expected);
    });
  }
  it('the defaults match the schema', () => {
    assert.deepEqual([...DEFAULT_RETRY_POLICY.retryOn], [429, 500, 502, 503, 504]);
  });
});

describe('retryDelay (exponential, capped, equal jitter)', () => {
  const p = policy({ initialMs: 1_000, maxMs: 10_000 });
  const cases: [number, number, number][] = [
    // attempt, random, delay
    [1, 0, 500],
    [1, 0.999_999, 1_000],
    [1, 0.5, 750],
    [2, 0, 1_000],
    [2, 0.999_999, 2_000],
    [3, 0.5, 3_000],
    [4, 0, 4_000],
    [5, 0.999_999, 10_000], // 16 s step capped at the max
    [60, 0, 5_000], // no overflow far out
  ];
  for (const [attempt, random, delay] of cases) {
    it(`attempt ${attempt}, random ${random} → ${delay} ms`, () => {
      assert.equal(retryDelay(p, attempt, random), delay);
    });
  }
});

describe('retryAfterMs (Retry-After)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const cases: [string | undefined, number | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['3', 3_000],
    [' 0 ', 0],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['2026-01-01', undefined],
    ['2024', 2_024_000],
    ['Thu, 01 Jan 2026 00:00:10 GMT', 10_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
  ];
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${expected}`, () => assert.equal(retryAfterMs(header, now), expected));
  }
});

describe('decideAfterAttempt', () => {
  const p = policy({ initialMs: 1_000, maxMs: 8_000 });
  const response = (status: number, retryAfter?: number): AttemptOutcome =>
    retryAfter === undefined
      ? { kind: 'response', status }
      : { kind: 'response', status, retryAfterMs: retryAfter };
  const cases: [string, number, AttemptOutcome, AttemptDecision][] = [
    ['200 succeeds', 1, response(200), { action: 'succeed' }],
    ['204 succeeds', 3, response(204), { action: 'succeed' }],
    ['a 503 on attempt 1 waits the first step', 1, response(503), { action: 'retry', delayMs: 500 }],
    ['a 500 on attempt 2 waits the second', 2, response(500), { action: 'retry', delayMs: 1_000 }],
    ['a 503 on the last attempt fails', 3, response(503), { action: 'fail', reason: 'attempts-exhausted' }],
    ['a 400 is not retried', 1, response(400), { action: 'fail', reason: 'not-retryable' }],
    ['a 404 from the function is not retried', 1, response(404), { action: 'fail', reason: 'not-retryable' }],
    ['a 3xx is not a success', 1, response(302), { action: 'fail', reason: 'not-retryable' }],
    [
      'Retry-After is honoured over the backoff',
      1,
      response(429, 4_000),
      { action: 'retry', delayMs: 4_000 },
    ],
    ['Retry-After is capped at the max', 1, response(503, 60_000), { action: 'retry', delayMs: 8_000 }],
    [
      'a connection failure is retried whatever retryOn says',
      1,
      { kind: 'unreachable', status: 502 },
      { action: 'retry', delayMs: 500 },
    ],
    [
      'a connection failure on the last attempt fails',
      3,
      { kind: 'unreachable', status: 503 },
      { action: 'fail', reason: 'attempts-exhausted' },
    ],
    [
      'a removed function is not retried',
      1,
      { kind: 'refused', status: 404 },
      { action: 'fail', reason: 'not-retryable' },
    ],
  ];
  for (const [name, attempts, outcome, expected] of cases) {
    it(name, () => assert.deepEqual(decideAfterAttempt(p, attempts, outcome, 0), expected));
  }

  it('an empty retryOn retries connection failures only', () => {
    const only = policy({ retryOn: new Set() });
    assert.deepEqual(decideAfterAttempt(only, 1, response(503), 0), {
      action: 'fail',
      reason: 'not-retryable',
    });
    assert.equal(decideAfterAttempt(only, 1, { kind: 'unreachable', status: 502 }, 0).action, 'retry');
  });

  it('maxAttempts 1 never retries', () => {
    assert.deepEqual(decideAfterAttempt(policy({ maxAttempts: 1 }), 1, response(503), 0), {
      action: 'fail',
      reason: 'attempts-exhausted',
    });
  });
});
