import assert from 'node:assert/strict';
import {
  type ConcurrencySample,
  inWindow,
  lastBusyAt,
  pruneSamples,
  windowAverage,
} from '../src/autoscale/window.js';

const NOW = 1_000_000;
const WINDOW = 60_000;
const at = (msBeforeNow: number, concurrency: number): ConcurrencySample => ({
  at: NOW - msBeforeNow,
  concurrency,
});

describe('inWindow', () => {
  const cases: { name: string; sample: ConcurrencySample; want: boolean }[] = [
    { name: 'taken at now', sample: at(0, 3), want: true },
    { name: 'a millisecond inside the far edge', sample: at(WINDOW - 1, 3), want: true },
    { name: 'exactly a window old: out (the window is half-open)', sample: at(WINDOW, 3), want: false },
    { name: 'older than the window', sample: at(WINDOW + 5_000, 3), want: false },
    { name: 'stamped after now', sample: at(-1, 3), want: false },
    { name: 'zero concurrency counts', sample: at(1_000, 0), want: true },
    { name: 'negative concurrency is a bad reading', sample: at(1_000, -1), want: false },
    { name: 'NaN is a bad reading', sample: at(1_000, Number.NaN), want: false },
    { name: 'Infinity is a bad reading', sample: at(1_000, Number.POSITIVE_INFINITY), want: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(inWindow(c.sample, NOW, WINDOW), c.want));
  }
});

describe('windowAverage', () => {
  const cases: { name: string; samples: ConcurrencySample[]; windowMs?: number; want: number | undefined }[] =
    [
      { name: 'no samples: undefined, not zero', samples: [], want: undefined },
      {
        name: 'only samples older than the window: undefined',
        samples: [at(WINDOW, 9), at(90_000, 9)],
        want: undefined,
      },
      { name: 'only future samples: undefined', samples: [at(-1_000, 9)], want: undefined },
      { name: 'one sample', samples: [at(0, 7)], want: 7 },
      { name: 'plain mean of those inside', samples: [at(0, 10), at(1_000, 20), at(59_999, 0)], want: 10 },
      {
        name: 'old, future and bad samples are left out of both sum and count',
        samples: [
          at(0, 4),
          at(2_000, 8),
          at(WINDOW, 100),
          at(-500, 100),
          at(3_000, -5),
          at(4_000, Number.NaN),
        ],
        want: 6,
      },
      {
        name: 'zeros pull the mean down (they are readings, not gaps)',
        samples: [at(0, 0), at(1_000, 0), at(2_000, 0), at(3_000, 12)],
        want: 3,
      },
      {
        name: 'a shorter window sees only the recent part',
        samples: [at(0, 30), at(5_000, 30), at(6_000, 3), at(30_000, 3)],
        windowMs: 6_000,
        want: 30,
      },
      { name: 'order does not matter', samples: [at(3_000, 1), at(0, 5), at(1_000, 3)], want: 3 },
    ];
  for (const c of cases) {
    it(c.name, () => assert.equal(windowAverage(c.samples, NOW, c.windowMs ?? WINDOW), c.want));
  }
});

describe('lastBusyAt', () => {
  const cases: { name: string; samples: ConcurrencySample[]; want: number | undefined }[] = [
    { name: 'no samples', samples: [], want: undefined },
    { name: 'only zeros', samples: [at(0, 0), at(1_000, 0)], want: undefined },
    {
      name: 'the newest non-zero sample',
      samples: [at(5_000, 2), at(0, 0), at(2_000, 0.5), at(9_000, 7)],
      want: NOW - 2_000,
    },
    { name: 'busy only before the window: undefined', samples: [at(WINDOW, 3), at(0, 0)], want: undefined },
    {
      name: 'a future non-zero sample is not seen yet',
      samples: [at(-1_000, 3), at(4_000, 1)],
      want: NOW - 4_000,
    },
    {
      name: 'a bad reading is not busy',
      samples: [at(0, Number.NaN), at(1_000, Number.POSITIVE_INFINITY)],
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(lastBusyAt(c.samples, NOW, WINDOW), c.want));
  }
});

describe('pruneSamples', () => {
  it('keeps what a later decision can still use, including samples stamped after now', () => {
    const samples = [at(WINDOW + 1, 1), at(WINDOW, 2), at(WINDOW - 1, 3), at(0, 4), at(-1_000, 5)];
    assert.deepEqual(pruneSamples(samples, NOW, WINDOW), [at(WINDOW - 1, 3), at(0, 4), at(-1_000, 5)]);
  });

  it('returns a new array and leaves the given one alone', () => {
    const samples = Object.freeze([at(WINDOW + 1, 1), at(0, 4)]);
    const kept = pruneSamples(samples, NOW, WINDOW);
    assert.notEqual(kept, samples);
    assert.equal(samples.length, 2);
    assert.deepEqual(kept, [at(0, 4)]);
  });
});
