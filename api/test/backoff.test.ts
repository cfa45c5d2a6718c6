import assert from 'node:assert/strict';
import { type Backoff, backoffDelay } from '../src/backoff.js';

describe('backoffDelay: the one exponential backoff', () => {
  const fixed = (r: number) => () => r;
  const cases: [string, Backoff, number, number, number][] = [
    // name, backoff, attempt, random, delay
    ['no jitter: the first retry waits the base', { baseMs: 250, maxMs: 30_000 }, 1, 0.5, 250],
    ['no jitter: each retry doubles', { baseMs: 250, maxMs: 30_000 }, 3, 0.5, 1_000],
    ['no jitter: capped', { baseMs: 250, maxMs: 30_000 }, 8, 0.5, 30_000],
    ['attempt 0 or less counts as the first', { baseMs: 250, maxMs: 30_000 }, 0, 0.5, 250],
    ['far out stays finite and capped', { baseMs: 50, maxMs: 1_000 }, 10_000, 0.5, 1_000],
    ['equal jitter: at least half the step', { baseMs: 1_000, maxMs: 10_000, jitter: 'equal' }, 1, 0, 500],
    [
      'equal jitter: at most the step',
      { baseMs: 1_000, maxMs: 10_000, jitter: 'equal' },
      2,
      0.999_999,
      2_000,
    ],
    ['equal jitter: between', { baseMs: 1_000, maxMs: 10_000, jitter: 'equal' }, 3, 0.5, 3_000],
    ['equal jitter: capped, then jittered', { baseMs: 1_000, maxMs: 10_000, jitter: 'equal' }, 60, 0, 5_000],
    ['full jitter: can be nothing', { baseMs: 200, maxMs: 30_000, jitter: 'full' }, 4, 0, 0],
    ['full jitter: up to the step', { baseMs: 200, maxMs: 30_000, jitter: 'full' }, 4, 0.5, 800],
  ];
  for (const [name, backoff, attempt, random, delay] of cases) {
    it(`${name} (attempt ${attempt}, random ${random} → ${delay} ms)`, () => {
      assert.equal(backoffDelay(backoff, attempt, fixed(random)), delay);
    });
  }

  it('draws a random number only when it jitters', () => {
    let draws = 0;
    const random = () => {
      draws++;
      return 0.5;
    };
    backoffDelay({ baseMs: 10, maxMs: 100 }, 2, random);
    assert.equal(draws, 0);
    backoffDelay({ baseMs: 10, maxMs: 100, jitter: 'equal' }, 2, random);
    assert.equal(draws, 1);
  });
});
