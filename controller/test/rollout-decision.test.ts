import assert from 'node:assert/strict';
import {
  type RolloutPolicy,
  type RolloutState,
  type WindowStats,
  decideRollout,
  startRollout,
} from '../src/rollout/rollout-decision.js';

const policy: RolloutPolicy = {
  steps: [
    { percent: 10, pauseMs: 60_000 },
    { percent: 50, pauseMs: 120_000 },
  ],
  minRequests: 20,
  maxErrorRateIncrease: 0.05,
  maxP99Ratio: 1.5,
  p99FloorMs: 10,
};
const T0 = 1_000_000;
const stats = (requests: number, errors: number, p99Ms?: number): WindowStats => ({
  requests,
  errors,
  p99Ms,
});
const healthy = { stable: stats(500, 2, 40), candidate: stats(60, 0, 42) };

describe('decideRollout: a progressive rollout as a pure decision', () => {
  const started = startRollout('v3', 'v4', T0);

  it('starts the candidate at the first step and asks to be woken when the pause ends', () => {
    const d = decideRollout(policy, started, healthy, T0 + 1_000);
    assert.deepEqual(d.traffic, [
      { version: 'v3', percent: 90 },
      { version: 'v4', percent: 10 },
    ]);
    assert.equal(d.state, started);
    assert.equal(d.recheckAt, T0 + 60_000);
    assert.equal(d.event, undefined);
  });

  it('promotes after the pause once the candidate has answered enough calls, and says so', () => {
    const d = decideRollout(policy, started, healthy, T0 + 60_000);
    assert.deepEqual(d.state, { ...started, step: 1, stepStartedAt: T0 + 60_000 });
    assert.deepEqual(d.traffic, [
      { version: 'v3', percent: 50 },
      { version: 'v4', percent: 50 },
    ]);
    assert.equal(d.event?.type, 'Normal');
    assert.equal(d.event?.reason, 'RolloutStep');
    assert.match(
      d.event?.message ?? '',
      /v4 takes 50 % \(step 2 of 2\) after v4's 60 calls \(0\.0 % failed, p99 42 ms\)/,
    );
    assert.equal(d.recheckAt, T0 + 180_000);
  });

  it('holds a step whose candidate got too few calls: no evidence is not good evidence', () => {
    const d = decideRollout(
      policy,
      started,
      { stable: stats(500, 0, 40), candidate: stats(7, 0, 30) },
      T0 + 600_000,
    );
    assert.equal(d.state, started);
    assert.equal(d.traffic[1]?.percent, 10);
    assert.equal(d.waiting, 'v4 has answered 7 of the 20 calls step 1 needs before it can pass');
    assert.equal(d.event, undefined);
  });

  it('passes on time alone when the policy asks for no calls', () => {
    const none = { stable: stats(0, 0), candidate: stats(0, 0) };
    const d = decideRollout({ ...policy, minRequests: 0 }, started, none, T0 + 60_000);
    assert.equal(d.state.phase, 'Progressing');
    assert.equal((d.state as { step: number }).step, 1);
  });

  it('rolls back at once on errors, before the pause is over, and names both rates', () => {
    const failing = { stable: stats(400, 2, 40), candidate: stats(40, 12, 41) };
    const d = decideRollout(policy, started, failing, T0 + 5_000);
    assert.equal(d.state.phase, 'RolledBack');
    assert.deepEqual(d.traffic, [{ version: 'v3', percent: 100 }]);
    assert.equal(d.event?.type, 'Warning');
    assert.equal(d.event?.reason, 'RolledBack');
    assert.equal(
      d.event?.message,
      'v4 failed 12 of 40 calls (30.0 %) against 0.5 % for v3 over the same window; at most 5.0 % more is allowed',
    );
    assert.equal((d.state as { reason: string }).reason, 'ErrorRate');
  });

  const judged: [string, WindowStats, WindowStats, 'Progressing' | 'RolledBack'][] = [
    // name, stable, candidate, phase after one decision mid-pause
    ['errors under minRequests are not judged yet', stats(400, 0, 40), stats(10, 10, 40), 'Progressing'],
    ['an error rate just at the limit holds', stats(100, 0, 40), stats(100, 5, 40), 'Progressing'],
    ['an error rate just over the limit fails', stats(100, 0, 40), stats(100, 6, 40), 'RolledBack'],
    [
      'both failing alike (a shared database down) is not the candidate’s fault',
      stats(100, 50),
      stats(40, 21),
      'Progressing',
    ],
    ['no stable calls set the bar at no errors', stats(0, 0), stats(40, 3, 20), 'RolledBack'],
    ['p99 at 1.5 times the stable one holds', stats(100, 0, 40), stats(40, 0, 60), 'Progressing'],
    ['p99 over 1.5 times the stable one fails', stats(100, 0, 40), stats(40, 0, 61), 'RolledBack'],
    ['a fast stable p99 counts as the floor', stats(100, 0, 2), stats(40, 0, 15), 'Progressing'],
    ['over the floor times the ratio fails', stats(100, 0, 2), stats(40, 0, 16), 'RolledBack'],
  ];
  for (const [name, stable, candidate, phase] of judged) {
    it(name, () => {
      assert.equal(decideRollout(policy, started, { stable, candidate }, T0 + 1_000).state.phase, phase);
    });
  }

  it('explains a latency rollback, naming the floor when it set the bar', () => {
    const d = decideRollout(
      policy,
      started,
      { stable: stats(100, 0, 2), candidate: stats(40, 0, 30) },
      T0 + 1,
    );
    assert.equal(
      d.event?.message,
      "v4's p99 latency 30 ms is over 1.5 times v3's 2 ms (counted as 10 ms, the floor) over the same window",
    );
  });

  it('walks every step with a clock and ends with the candidate holding everything', () => {
    let state: RolloutState = started;
    const seen: string[] = [];
    for (let now = T0; now <= T0 + 400_000; now += 15_000) {
      const d = decideRollout(policy, state, healthy, now);
      if (d.event !== undefined) seen.push(`${(now - T0) / 1000}s ${d.event.reason}`);
      state = d.state;
    }
    assert.deepEqual(seen, ['60s RolloutStep', '180s RolloutSucceeded']);
    const done = decideRollout(policy, state, healthy, T0 + 500_000);
    assert.deepEqual(done.traffic, [{ version: 'v4', percent: 100 }]);
    assert.equal(done.event, undefined, 'a finished rollout says nothing more');
  });

  it('stays rolled back whatever comes after', () => {
    const failed = decideRollout(
      policy,
      started,
      { stable: stats(100, 0, 40), candidate: stats(40, 40) },
      T0,
    ).state;
    const later = decideRollout(policy, failed, healthy, T0 + 1_000_000);
    assert.equal(later.state, failed);
    assert.deepEqual(later.traffic, [{ version: 'v3', percent: 100 }]);
    assert.equal(later.event, undefined);
  });

  it('ends a rollout whose policy lost the step it was on', () => {
    const onThird: RolloutState = { ...started, step: 2 };
    const d = decideRollout(policy, onThird, healthy, T0);
    assert.equal(d.state.phase, 'Succeeded');
    assert.deepEqual(d.traffic, [{ version: 'v4', percent: 100 }]);
  });
});
