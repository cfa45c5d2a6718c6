import assert from 'node:assert/strict';
import { AUTOSCALER_DEFAULTS, type AutoscalerConfig } from '../src/autoscale/config.js';
import { type AutoscalerState, type DecisionReason, decideScale } from '../src/autoscale/decider.js';
import type { ConcurrencySample } from '../src/autoscale/window.js';

/** The fake clock's origin; times in the tables are seconds after it. */
const T0 = 1_700_000_000_000;
const ms = (s: number): number => T0 + s * 1000;

/** target 10 at 70% utilisation: 7 in flight per replica. */
const BASE: AutoscalerConfig = {
  ...AUTOSCALER_DEFAULTS,
  target: 10,
  min: 0,
  max: 20,
  scaleToZeroAfterMs: 60_000,
};

interface Tick {
  /** Seconds after T0. */
  at: number;
  /** Ready replicas seen; by default the last decision, as if pods were ready at once. */
  ready?: number;
  want: number;
  reason: DecisionReason;
  panicking?: boolean;
}

interface Case {
  name: string;
  config?: Partial<AutoscalerConfig>;
  /** Concurrency reported at second s, one sample a second; undefined: nothing reported. */
  load: (s: number) => number | undefined;
  /** The state before the first tick; none: a function the decider has not seen. */
  start?: { desired: number; lastBusyAt?: number; panic?: AutoscalerState['panic'] };
  ticks: Tick[];
}

/** Every sample the load produces from two stable windows before T0 up to `now`. */
function samplesUntil(load: Case['load'], until: number): ConcurrencySample[] {
  const samples: ConcurrencySample[] = [];
  for (let s = -120; s <= until; s++) {
    const concurrency = load(s);
    if (concurrency !== undefined) samples.push({ at: ms(s), concurrency });
  }
  return samples;
}

function run(c: Case): void {
  const config = { ...BASE, ...c.config };
  let state: AutoscalerState | undefined = c.start && {
    desired: c.start.desired,
    decidedAt: ms(-2),
    lastBusyAt: c.start.lastBusyAt ?? ms(-1),
    panic: c.start.panic,
  };
  for (const tick of c.ticks) {
    const readyReplicas = tick.ready ?? state?.desired ?? 0;
    const decision = decideScale(
      config,
      { samples: samplesUntil(c.load, tick.at), readyReplicas },
      state,
      ms(tick.at),
    );
    const where = `at ${tick.at}s with ${readyReplicas} ready`;
    assert.equal(decision.desired, tick.want, `desired ${where} (reason ${decision.reason})`);
    assert.equal(decision.reason, tick.reason, `reason ${where}`);
    assert.equal(decision.state.desired, decision.desired, `state.desired ${where}`);
    assert.equal(decision.state.decidedAt, ms(tick.at), `state.decidedAt ${where}`);
    if (tick.panicking !== undefined) {
      assert.equal(decision.state.panic !== undefined, tick.panicking, `panicking ${where}`);
    }
    state = decision.state;
  }
}

function table(cases: Case[]): void {
  for (const c of cases) it(c.name, () => run(c));
}

const steady =
  (n: number) =>
  (_s: number): number =>
    n;
/** `before` until second `from`, then `after`. */
const step =
  (before: number, from: number, after: number) =>
  (s: number): number =>
    s < from ? before : after;

describe('decideScale', () => {
  describe('stable window', () => {
    table([
      {
        name: 'steady load holds a steady count: 35 in flight at 7 a replica is 5',
        load: steady(35),
        start: { desired: 5 },
        ticks: [
          { at: 0, want: 5, reason: 'stable', panicking: false },
          { at: 2, want: 5, reason: 'stable' },
          { at: 30, want: 5, reason: 'stable' },
          { at: 300, want: 5, reason: 'stable', panicking: false },
        ],
      },
      {
        name: 'utilisation: 14 in flight at target 10 fill 2 replicas to 70%',
        load: steady(14),
        start: { desired: 2 },
        ticks: [{ at: 0, want: 2, reason: 'stable' }],
      },
      {
        name: 'utilisation: 15 in flight need a third replica at 70%',
        load: steady(15),
        start: { desired: 2 },
        ticks: [{ at: 0, want: 3, reason: 'stable', panicking: false }],
      },
      {
        name: 'utilisation 1 (tuned): 15 in flight at target 10 need only 2',
        config: { utilisation: 1 },
        load: steady(15),
        start: { desired: 2 },
        ticks: [{ at: 0, want: 2, reason: 'stable' }],
      },
      {
        name: 'float error does not add a replica: 2.1 in flight at target 3 × 70% is exactly 1',
        config: { target: 3 },
        load: steady(2.1),
        start: { desired: 1 },
        ticks: [{ at: 0, want: 1, reason: 'stable' }],
      },
      {
        name: 'a slow rise moves the stable count a replica at a time, without panicking',
        load: step(28, 0, 42),
        start: { desired: 4 },
        ticks: [
          // (59×28 + 42)/60 = 28.2: just past 4 × 7
          { at: 0, want: 5, reason: 'stable', panicking: false },
          // (29×28 + 31×42)/60 = 35.2: past 5 × 7; the panic window wants 6, 1.2× ready
          { at: 30, want: 6, reason: 'stable', panicking: false },
          { at: 60, want: 6, reason: 'stable', panicking: false },
        ],
      },
    ]);
  });

  describe('panic', () => {
    table([
      {
        name: 'a burst panics and scales up at once, from the panic window',
        config: { max: 100 },
        load: step(35, 0, 350),
        start: { desired: 5 },
        ticks: [
          // panic window (5×35 + 350)/6 = 87.5 → 13 ≥ 2×5; the stable window alone wants 6
          { at: 0, want: 13, reason: 'panic', panicking: true },
          // six seconds of 350: 50 replicas
          { at: 6, want: 50, reason: 'panic', panicking: true },
        ],
      },
      {
        name: 'panic threshold: 2.5× ready panics by default',
        load: step(28, -10, 70),
        start: { desired: 4 },
        ticks: [{ at: 0, want: 10, reason: 'panic', panicking: true }],
      },
      {
        name: 'panic threshold 3 (tuned): 2.5× ready does not; the stable window decides',
        config: { panicThreshold: 3 },
        load: step(28, -10, 70),
        start: { desired: 4 },
        // (49×28 + 11×70)/60 = 35.7 → 6
        ticks: [{ at: 0, want: 6, reason: 'stable', panicking: false }],
      },
      {
        name: 'no scale-down while panicking; panic ends a stable window after the threshold was last met',
        config: { max: 100 },
        load: (s) => (s >= 0 && s < 10 ? 350 : 35),
        start: { desired: 5 },
        ticks: [
          { at: 0, want: 13, reason: 'panic', panicking: true },
          // still over 2× ready (50 vs 13): the panic is extended to here
          { at: 6, want: 50, reason: 'panic', panicking: true },
          // 50 ready want 50: under the threshold, but panic holds
          { at: 8, want: 50, reason: 'panic', panicking: true },
          // the burst is over: stable wants 13, panic 5; neither may lower it
          { at: 20, want: 50, reason: 'panic', panicking: true },
          // 60 s after it started, but only 55 s after it was last over the threshold
          { at: 61, want: 50, reason: 'panic', panicking: true },
          { at: 65, want: 50, reason: 'panic', panicking: true },
          // 60 s after the threshold was last met: stable wants 8, halving allows 25
          { at: 66, want: 25, reason: 'rate-limited', panicking: false },
          { at: 68, want: 12, reason: 'rate-limited', panicking: false },
          { at: 70, want: 6, reason: 'rate-limited', panicking: false },
          { at: 72, want: 5, reason: 'stable', panicking: false },
        ],
      },
      {
        name: 'entering panic never goes below the last decision, even when few pods are ready yet',
        load: step(7, 0, 56),
        start: { desired: 10 },
        // panic window 56 → 8 = 4× the 2 ready: panic, and 10 pods are already on their way
        ticks: [{ at: 5, ready: 2, want: 10, reason: 'panic', panicking: true }],
      },
    ]);
  });

  describe('rate limits', () => {
    table([
      {
        name: 'maxScaleUpRate 2 (tuned): at most double the ready replicas per decision',
        config: { maxScaleUpRate: 2, max: 100 },
        load: step(14, 0, 700),
        start: { desired: 2 },
        ticks: [
          { at: 0, want: 4, reason: 'rate-limited', panicking: true },
          { at: 2, want: 8, reason: 'rate-limited', panicking: true },
          { at: 4, want: 16, reason: 'rate-limited', panicking: true },
          // pods slow to start: the limit follows the 10 ready, not the 16 last asked for
          { at: 6, ready: 10, want: 20, reason: 'rate-limited', panicking: true },
        ],
      },
      {
        name: 'a rate that rounds to less than one more replica still grows by one',
        config: { maxScaleUpRate: 1.1 },
        load: steady(70),
        start: { desired: 1 },
        ticks: [{ at: 0, want: 2, reason: 'rate-limited' }],
      },
      {
        name: 'the default up rate (1000×) does not bind a burst from one replica',
        config: { max: 1000 },
        load: step(7, -10, 3500),
        start: { desired: 1 },
        ticks: [{ at: 0, want: 500, reason: 'panic', panicking: true }],
      },
      {
        name: 'default down rate: at most halve the ready replicas per decision',
        load: steady(7),
        start: { desired: 10 },
        ticks: [
          { at: 0, want: 5, reason: 'rate-limited', panicking: false },
          { at: 2, want: 2, reason: 'rate-limited' },
          { at: 4, want: 1, reason: 'stable' },
        ],
      },
      {
        name: 'maxScaleDownRate 4 (tuned): a quarter per decision',
        config: { maxScaleDownRate: 4 },
        load: steady(7),
        start: { desired: 10 },
        ticks: [
          { at: 0, want: 2, reason: 'rate-limited' },
          { at: 2, want: 1, reason: 'stable' },
        ],
      },
    ]);
  });

  describe('min and max', () => {
    table([
      {
        name: 'max caps the stable desire',
        load: steady(210),
        start: { desired: 20 },
        // 30 wanted, 1.5× ready: not a panic
        ticks: [{ at: 0, want: 20, reason: 'bounded-by-max', panicking: false }],
      },
      {
        name: 'max caps a panic too',
        load: step(70, 0, 700),
        start: { desired: 10 },
        ticks: [{ at: 2, want: 20, reason: 'bounded-by-max', panicking: true }],
      },
      {
        name: 'a max lowered below the current count applies at once, past the down rate',
        config: { max: 3 },
        load: steady(70),
        start: { desired: 10 },
        ticks: [{ at: 0, want: 3, reason: 'bounded-by-max' }],
      },
      {
        name: 'a min raised above the current count applies at once, past the up rate',
        config: { min: 5, maxScaleUpRate: 2 },
        load: steady(7),
        start: { desired: 1 },
        ticks: [{ at: 0, want: 5, reason: 'bounded-by-min' }],
      },
      {
        name: 'min 2 holds with no traffic, however long',
        config: { min: 2 },
        load: steady(0),
        start: { desired: 2, lastBusyAt: ms(-600) },
        ticks: [
          { at: 0, want: 2, reason: 'bounded-by-min' },
          { at: 3600, want: 2, reason: 'bounded-by-min' },
        ],
      },
      {
        name: 'min 1 never goes to zero',
        config: { min: 1 },
        load: steady(0),
        start: { desired: 1, lastBusyAt: ms(-600) },
        ticks: [{ at: 0, want: 1, reason: 'bounded-by-min' }],
      },
    ]);
  });

  describe('scale to zero', () => {
    table([
      {
        name: 'scaleToZeroAfter 60s (the stable window): zero when the last request is 60 s old',
        load: step(7, 0, 0),
        start: { desired: 1 },
        ticks: [
          { at: 0, want: 1, reason: 'stable' },
          { at: 30, want: 1, reason: 'stable' },
          // the last request (second -1) is 59 s old
          { at: 58, want: 1, reason: 'stable' },
          { at: 59, want: 0, reason: 'scale-to-zero' },
          { at: 200, want: 0, reason: 'scale-to-zero' },
        ],
      },
      {
        name: 'scaleToZeroAfter 120s: the last replica waits out the idle time after the window empties',
        config: { scaleToZeroAfterMs: 120_000 },
        load: step(7, 0, 0),
        start: { desired: 1 },
        ticks: [
          { at: 59, want: 1, reason: 'scale-to-zero-pending' },
          { at: 118, want: 1, reason: 'scale-to-zero-pending' },
          { at: 119, want: 0, reason: 'scale-to-zero' },
        ],
      },
      {
        name: 'scaleToZeroAfter 30s: idle time counts from the last request, not from the stable window',
        config: { scaleToZeroAfterMs: 30_000 },
        load: (s) => (s < 0 ? 7 : s < 50 ? 0 : 3),
        start: { desired: 1 },
        ticks: [
          { at: 28, want: 1, reason: 'stable' },
          { at: 29, want: 0, reason: 'scale-to-zero' },
          // the stable window still holds traffic from before second 0: that is no new demand
          { at: 40, want: 0, reason: 'scale-to-zero' },
          { at: 50, want: 1, reason: 'wake' },
        ],
      },
      {
        name: 'scale to zero goes at the down rate like any scale-down',
        load: steady(0),
        start: { desired: 4, lastBusyAt: ms(-120) },
        ticks: [
          { at: 0, want: 2, reason: 'rate-limited' },
          { at: 2, want: 1, reason: 'rate-limited' },
          { at: 4, want: 0, reason: 'scale-to-zero' },
        ],
      },
      {
        name: 'no scale to zero while panicking, however short scaleToZeroAfter is',
        config: { scaleToZeroAfterMs: 10_000 },
        load: (s) => (s >= 0 && s <= 2 ? 140 : 0),
        start: { desired: 2, lastBusyAt: ms(-600) },
        ticks: [
          // panic window 3×140/6 = 70 → 10 ≥ 2×2
          { at: 2, want: 10, reason: 'panic', panicking: true },
          { at: 20, want: 10, reason: 'panic', panicking: true },
          { at: 61, want: 10, reason: 'panic', panicking: true },
          { at: 62, want: 5, reason: 'rate-limited', panicking: false },
          { at: 64, want: 2, reason: 'rate-limited' },
          { at: 66, want: 1, reason: 'rate-limited' },
          { at: 68, want: 0, reason: 'scale-to-zero' },
        ],
      },
    ]);
  });

  describe('wake from zero', () => {
    table([
      {
        name: 'one request at zero: 1 replica at once, without waiting for a window',
        load: step(0, 0, 1),
        start: { desired: 0, lastBusyAt: ms(-300) },
        ticks: [
          { at: -10, want: 0, reason: 'scale-to-zero' },
          { at: 0, ready: 0, want: 1, reason: 'wake', panicking: false },
          // pods not ready yet: still 1, the ordinary way now
          { at: 2, ready: 0, want: 1, reason: 'stable' },
        ],
      },
      {
        name: 'a crowd of held requests: straight to what the panic window asks for',
        load: step(0, 0, 70),
        start: { desired: 0, lastBusyAt: ms(-300) },
        ticks: [
          // 70/6 in the panic window: 2 replicas, 2× the one counted as ready
          { at: 0, ready: 0, want: 2, reason: 'wake', panicking: true },
          { at: 2, ready: 0, want: 5, reason: 'panic', panicking: true },
        ],
      },
      {
        name: 'a wake with up rate 1.5 (tuned): 2 at once, the ceiling of 1.5 × the one counted ready',
        config: { maxScaleUpRate: 1.5 },
        load: step(0, 0, 700),
        start: { desired: 0, lastBusyAt: ms(-300) },
        ticks: [{ at: 0, ready: 0, want: 2, reason: 'wake' }],
      },
      {
        name: 'a wake is still bounded by max',
        config: { max: 1 },
        load: step(0, 0, 700),
        start: { desired: 0, lastBusyAt: ms(-300) },
        ticks: [{ at: 0, ready: 0, want: 1, reason: 'bounded-by-max' }],
      },
    ]);
  });

  describe('no data', () => {
    table([
      {
        name: 'nothing reported: hold the count, never scale to zero on missing data',
        load: () => undefined,
        start: { desired: 3, lastBusyAt: ms(-600) },
        ticks: [
          { at: 0, ready: 3, want: 3, reason: 'no-data' },
          { at: 3600, ready: 3, want: 3, reason: 'no-data' },
        ],
      },
      {
        name: 'samples older than the stable window are no data',
        load: (s) => (s < -60 ? 0 : undefined),
        start: { desired: 3, lastBusyAt: ms(-600) },
        ticks: [{ at: 0, want: 3, reason: 'no-data' }],
      },
      {
        name: 'at zero with nothing reported: stay at zero',
        load: () => undefined,
        start: { desired: 0, lastBusyAt: ms(-600) },
        ticks: [{ at: 0, want: 0, reason: 'no-data' }],
      },
      {
        name: 'no data still answers to the bounds',
        config: { max: 2 },
        load: () => undefined,
        start: { desired: 3 },
        ticks: [{ at: 0, want: 2, reason: 'bounded-by-max' }],
      },
      {
        name: 'a panic is held through a gap in the data and ends on the first data after it',
        load: (s) => (s < 0 ? 35 : s < 60 ? undefined : 7),
        start: { desired: 10, panic: { since: ms(-30), lastOverThresholdAt: ms(-10), floor: 10 } },
        ticks: [
          // 69 s after the threshold was last met, but with no data nothing is decided
          { at: 59, ready: 10, want: 10, reason: 'no-data', panicking: true },
          // only second 60 is in the window: 7 wants 1; halving from 10 allows 5
          { at: 60, ready: 10, want: 5, reason: 'rate-limited', panicking: false },
        ],
      },
    ]);
  });

  describe('initial scale', () => {
    table([
      {
        name: 'first sight with no data: initialScale (1)',
        load: () => undefined,
        ticks: [{ at: 0, ready: 0, want: 1, reason: 'initial-scale', panicking: false }],
      },
      {
        name: 'first sight with no traffic: 1, then zero after scaleToZeroAfter from first sight',
        load: steady(0),
        ticks: [
          { at: 0, ready: 0, want: 1, reason: 'initial-scale' },
          { at: 2, want: 1, reason: 'scale-to-zero-pending' },
          { at: 59, want: 1, reason: 'scale-to-zero-pending' },
          { at: 60, want: 0, reason: 'scale-to-zero' },
        ],
      },
      {
        name: 'initialScale 3 holds on the first decision, then the load decides',
        config: { initialScale: 3 },
        load: steady(0),
        ticks: [
          { at: 0, ready: 0, want: 3, reason: 'initial-scale' },
          { at: 2, want: 1, reason: 'rate-limited' },
        ],
      },
      {
        name: 'min above initialScale: min',
        config: { min: 2 },
        load: steady(0),
        ticks: [{ at: 0, ready: 0, want: 2, reason: 'bounded-by-min' }],
      },
      {
        name: 'initialScale above max: max',
        config: { initialScale: 30 },
        load: () => undefined,
        ticks: [{ at: 0, ready: 0, want: 20, reason: 'bounded-by-max' }],
      },
      {
        name: 'first sight with demand beyond initialScale: what the demand needs',
        load: steady(70),
        ticks: [{ at: 0, ready: 0, want: 10, reason: 'panic', panicking: true }],
      },
      {
        name: 'initialScale 0: a new function stays at zero until its first request',
        config: { initialScale: 0 },
        load: step(0, 10, 2),
        ticks: [
          { at: 0, ready: 0, want: 0, reason: 'initial-scale' },
          { at: 5, want: 0, reason: 'scale-to-zero' },
          { at: 10, want: 1, reason: 'wake' },
        ],
      },
      {
        name: 'controller restart: the ready replicas are kept (in panic) for a stable window',
        load: steady(7),
        ticks: [
          { at: 0, ready: 8, want: 8, reason: 'initial-scale', panicking: true },
          { at: 30, want: 8, reason: 'panic', panicking: true },
          { at: 60, want: 4, reason: 'rate-limited', panicking: false },
        ],
      },
    ]);
  });

  describe('the decision', () => {
    const config = { ...BASE, max: 100 };
    const samples = Object.freeze(samplesUntil(step(35, 0, 350), 0).map((s) => Object.freeze(s)));
    const previous: AutoscalerState = Object.freeze({
      desired: 5,
      decidedAt: ms(-2),
      lastBusyAt: ms(-1),
      panic: undefined,
    });

    it('reports the window averages it used', () => {
      const decision = decideScale(config, { samples, readyReplicas: 5 }, previous, ms(0));
      assert.equal(decision.stableConcurrency, (59 * 35 + 350) / 60);
      assert.equal(decision.panicConcurrency, (5 * 35 + 350) / 6);
    });

    it('returns the new state, panic included, and records the last request seen', () => {
      const decision = decideScale(config, { samples, readyReplicas: 5 }, previous, ms(0));
      assert.deepEqual(decision.state, {
        desired: 13,
        decidedAt: ms(0),
        lastBusyAt: ms(0),
        panic: { since: ms(0), lastOverThresholdAt: ms(0), floor: 13 },
      });
    });

    it('is pure: frozen inputs, the same answer every time', () => {
      const first = decideScale(config, { samples, readyReplicas: 5 }, previous, ms(0));
      const again = decideScale(config, { samples, readyReplicas: 5 }, previous, ms(0));
      assert.deepEqual(again, first);
      assert.equal(previous.desired, 5);
    });

    it('reports no averages when there is no data', () => {
      const decision = decideScale(config, { samples: [], readyReplicas: 5 }, previous, ms(0));
      assert.equal(decision.stableConcurrency, undefined);
      assert.equal(decision.panicConcurrency, undefined);
      assert.equal(decision.state.lastBusyAt, ms(-1));
    });
  });
});
