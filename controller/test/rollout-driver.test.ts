import assert from 'node:assert/strict';
import { type FunctionResource, type TrafficTarget, validateFunction } from '@nimbus/api';
import type { VersionOutcomes } from '@nimbus/api/traffic';
import { ManualClock } from '@nimbus/testkit';
import { RolloutDriver, rolloutPolicy } from '../src/rollout/rollout-driver.js';
import type { TrafficPlan } from '../src/rollout/rollout-port.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const ROLLOUT = {
  steps: [
    { percent: 10, pause: '1m' },
    { percent: 50, pause: '2m' },
  ],
  minRequests: 20,
};

function fn(spec: Record<string, unknown> = {}): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name: 'hello', namespace: 'team', generation: 1 },
    spec: { source: { inline: 'export default () => 1' }, versions: { keep: 5 }, ...spec },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** `f` as the reconciler leaves it once it wrote `plan` to status. */
function applied(f: FunctionResource, plan: TrafficPlan): FunctionResource {
  return {
    ...f,
    status: { ...f.status, traffic: plan.traffic, ...(plan.rollout ? { rollout: plan.rollout } : {}) },
  };
}

const withStatus = (f: FunctionResource, status: FunctionResource['status']): FunctionResource => ({
  ...f,
  status,
});

/** A gateway's outcomes for versions of team/hello over one report interval; latency all in bucket 40 (about 256 ms). */
function outcomes(
  ...counts: [version: string, requests: number, errors: number][]
): Record<string, VersionOutcomes> {
  const out: Record<string, VersionOutcomes> = {};
  for (const [version, requests, errors] of counts)
    out[`team/hello@${version}`] = { requests, errors, latency: requests === 0 ? {} : { 40: requests } };
  return out;
}

class Rig {
  readonly clock = new ManualClock(T0);
  readonly requeued: string[] = [];
  readonly driver = new RolloutDriver(this.clock, (key) => this.requeued.push(key));

  plan(f: FunctionResource, latest: string, versions: string[]): TrafficPlan {
    return this.driver.plan(f, latest, versions, this.clock.now());
  }
}

describe('RolloutDriver: status.traffic from spec.traffic, a rollout, or the latest', () => {
  it('converts spec.rollout into the decision’s units, defaults included', () => {
    assert.deepEqual(rolloutPolicy({ steps: [{ percent: 20, pause: '30s' }, { percent: 60 }] }), {
      steps: [
        { percent: 20, pauseMs: 30_000 },
        { percent: 60, pauseMs: 60_000 },
      ],
      minRequests: 50,
      maxErrorRateIncrease: 0.05,
      maxP99Ratio: 1.5,
      p99FloorMs: 25,
    });
    const tuned = rolloutPolicy({
      steps: [{ percent: 5 }],
      maxErrorRateIncrease: 1,
      maxLatencyIncrease: 100,
      p99Floor: '50ms',
    });
    assert.equal(tuned.maxErrorRateIncrease, 0.01);
    assert.equal(tuned.maxP99Ratio, 2);
    assert.equal(tuned.p99FloorMs, 50);
  });

  it('without spec.rollout or spec.traffic, the latest takes all calls and no rollout is written', () => {
    const rig = new Rig();
    const plan = rig.plan(withStatus(fn(), { traffic: [{ version: 'v1', percent: 100 }] }), 'v2', [
      'v2',
      'v1',
    ]);
    assert.deepEqual(plan.traffic, [{ version: 'v2', percent: 100 }]);
    assert.equal(plan.rollout, undefined);
    assert.equal(plan.condition, undefined);
    assert.equal(plan.event, undefined);
  });

  it('the first version of a Function with spec.rollout has nothing to roll out from: all to it', () => {
    const rig = new Rig();
    const plan = rig.plan(fn({ rollout: ROLLOUT }), 'v1', ['v1']);
    assert.deepEqual(plan.traffic, [{ version: 'v1', percent: 100 }]);
    assert.equal(plan.rollout, undefined);
  });

  it('starts a rollout when the latest is not the version with all calls', () => {
    const rig = new Rig();
    const f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    const plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [
      { version: 'v1', percent: 90 },
      { version: 'v2', percent: 10 },
    ]);
    assert.deepEqual(plan.rollout, {
      phase: 'Progressing',
      stable: 'v1',
      candidate: 'v2',
      step: 1,
      steps: 2,
      since: '2026-12-07T10:00:00.000Z',
    });
    assert.equal(plan.condition?.status, 'False');
    assert.equal(plan.condition?.reason, 'Progressing');
    assert.match(plan.condition?.message ?? '', /^step 1 of 2: v2 takes 10 %/);
    assert.deepEqual(plan.event && [plan.event.type, plan.event.reason], ['Normal', 'RolloutStarted']);
    assert.equal(plan.requeueAfterMs, 60_000);
  });

  it('promotes a step once its pause is over and the candidate answered minRequests, on a report', () => {
    const rig = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, rig.plan(f, 'v2', ['v2', 'v1']));
    // Enough calls before the pause ends: nothing moves yet, so no reconcile is asked for.
    rig.driver.onReport(outcomes(['v1', 90, 0], ['v2', 10, 0]));
    rig.clock.advance(30_000);
    rig.driver.onReport(outcomes(['v1', 90, 0], ['v2', 5, 0]));
    assert.deepEqual(rig.requeued, []);
    rig.clock.advance(30_000);
    // The pause is over with 15 of 20 calls: held, and saying why.
    let plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.equal(plan.rollout?.step, 1);
    assert.match(plan.condition?.message ?? '', /has answered 15 of the 20 calls step 1 needs/);
    assert.equal(plan.event, undefined);
    f = applied(f, plan);
    rig.driver.onReport(outcomes(['v2', 5, 0]));
    assert.deepEqual(rig.requeued, ['team/hello'], 'the report that completes the evidence requeues once');
    rig.driver.onReport(outcomes(['v2', 5, 0]));
    assert.deepEqual(rig.requeued, ['team/hello']);
    plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [
      { version: 'v1', percent: 50 },
      { version: 'v2', percent: 50 },
    ]);
    assert.equal(plan.rollout?.step, 2);
    assert.equal(plan.rollout?.since, new Date(T0 + 60_000).toISOString());
    assert.deepEqual(plan.event && [plan.event.type, plan.event.reason], ['Normal', 'RolloutStep']);
    assert.equal(plan.requeueAfterMs, 120_000);
    f = applied(f, plan);
    // The new step's window starts empty: the first step's calls do not count towards it.
    rig.clock.advance(120_000);
    plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.equal(plan.rollout?.phase, 'Progressing');
    assert.match(plan.condition?.message ?? '', /answered 0 of the 20/);
    rig.driver.onReport(outcomes(['v1', 20, 0], ['v2', 20, 0]));
    assert.deepEqual(rig.requeued, ['team/hello', 'team/hello']);
    plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [{ version: 'v2', percent: 100 }]);
    assert.equal(plan.rollout?.phase, 'Succeeded');
    assert.deepEqual(plan.condition && [plan.condition.status, plan.condition.reason], [
      'True',
      'RolloutSucceeded',
    ]);
    assert.deepEqual(plan.event?.reason, 'RolloutSucceeded');
    // Once written, a succeeded rollout stays as it is: same traffic, no new event.
    f = applied(f, plan);
    const again = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(again.traffic, [{ version: 'v2', percent: 100 }]);
    assert.equal(again.event, undefined);
    assert.equal(again.rollout?.message, plan.rollout?.message);
    assert.equal(again.condition?.status, 'True');
  });

  it('rolls back at once on the candidate’s 500s, keeps it named, and rolls the next version out from the same stable', () => {
    const rig = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, rig.plan(f, 'v2', ['v2', 'v1']));
    rig.clock.advance(5_000);
    rig.driver.onReport(outcomes(['v1', 180, 1], ['v2', 20, 8]));
    assert.deepEqual(rig.requeued, ['team/hello'], 'a rollback does not wait for the pause');
    const plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [{ version: 'v1', percent: 100 }]);
    assert.equal(plan.rollout?.phase, 'RolledBack');
    assert.equal(plan.rollout?.candidate, 'v2', 'the failed candidate stays named, so it is kept');
    assert.equal(plan.rollout?.reason, 'ErrorRate');
    assert.match(plan.rollout?.message ?? '', /^v2 failed 8 of 20 calls \(40\.0 %\) against 0\.6 % for v1/);
    assert.deepEqual(plan.condition, {
      status: 'False',
      reason: 'RolledBack',
      message: plan.rollout?.message,
    });
    assert.deepEqual(plan.event, { type: 'Warning', reason: 'RolledBack', message: plan.rollout?.message });
    f = applied(f, plan);
    const held = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(held.traffic, [{ version: 'v1', percent: 100 }]);
    assert.equal(held.event, undefined);
    assert.equal(held.condition?.reason, 'RolledBack');
    // A fix: v3 rolls out from v1, never from the failed v2.
    const next = rig.plan(f, 'v3', ['v3', 'v2', 'v1']);
    assert.deepEqual(next.traffic, [
      { version: 'v1', percent: 90 },
      { version: 'v3', percent: 10 },
    ]);
    assert.equal(next.rollout?.stable, 'v1');
    assert.equal(next.rollout?.candidate, 'v3');
  });

  it('after a rollout succeeded, the next version rolls out from the one that won', () => {
    const rig = new Rig();
    const f = withStatus(fn({ rollout: ROLLOUT }), {
      traffic: [{ version: 'v2', percent: 100 }],
      rollout: {
        phase: 'Succeeded',
        stable: 'v1',
        candidate: 'v2',
        steps: 2,
        since: new Date(T0).toISOString(),
      },
    });
    const plan = rig.plan(f, 'v3', ['v3', 'v2', 'v1']);
    assert.deepEqual(plan.traffic, [
      { version: 'v2', percent: 90 },
      { version: 'v3', percent: 10 },
    ]);
    assert.deepEqual([plan.rollout?.stable, plan.rollout?.candidate], ['v2', 'v3']);
  });

  it('spec.rollout removed under a running rollout: the latest takes all, the rollout aborted', () => {
    const rig = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, rig.plan(f, 'v2', ['v2', 'v1']));
    const { rollout: _gone, ...spec } = f.spec;
    const plan = rig.plan({ ...f, spec }, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [{ version: 'v2', percent: 100 }]);
    assert.deepEqual([plan.rollout?.phase, plan.rollout?.reason], ['Aborted', 'RolloutRemoved']);
    assert.equal(plan.condition?.reason, 'Aborted');
  });

  it('spec.traffic aborts a running rollout at once and decides the split, latestVersion resolved', () => {
    const rig = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, rig.plan(f, 'v2', ['v2', 'v1']));
    const traffic: TrafficTarget[] = [
      { version: 'v1', percent: 100 },
      { latestVersion: true, percent: 0, tag: 'canary' },
    ];
    f = { ...f, spec: { ...f.spec, traffic } };
    const plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [
      { version: 'v1', percent: 100 },
      { version: 'v2', percent: 0, tag: 'canary' },
    ]);
    assert.equal(plan.rollout?.phase, 'Aborted');
    assert.equal(plan.rollout?.reason, 'TrafficSet');
    assert.equal(plan.rollout?.step, undefined);
    assert.deepEqual(plan.condition && [plan.condition.status, plan.condition.reason], ['False', 'Aborted']);
    assert.deepEqual(plan.event && [plan.event.type, plan.event.reason], ['Normal', 'RolloutAborted']);
    assert.equal(plan.requeueAfterMs, undefined);
    // Its window is gone: a report that would have rolled it back asks for nothing.
    rig.driver.onReport(outcomes(['v2', 50, 50]));
    assert.deepEqual(rig.requeued, []);
    f = applied(f, plan);
    const again = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.equal(again.rollout?.phase, 'Aborted');
    assert.equal(again.event, undefined, 'aborted once, not on every reconcile');
  });

  it('spec.traffic naming a version that is not kept keeps the split in force and warns', () => {
    const rig = new Rig();
    const f = withStatus(fn({ traffic: [{ version: 'v9', percent: 100 }] }), {
      traffic: [{ version: 'v1', percent: 100 }],
    });
    const plan = rig.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.traffic, [{ version: 'v1', percent: 100 }]);
    assert.deepEqual(plan.event && [plan.event.type, plan.event.reason], [
      'Warning',
      'TrafficUnknownVersion',
    ]);
    assert.match(plan.event?.message ?? '', /v9/);
  });

  it('a new leader carries a rollout on from status.rollout, step and step start included', () => {
    const first = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, first.plan(f, 'v2', ['v2', 'v1']));
    const next = new Rig();
    next.clock.advance(30_000);
    const plan = next.plan(f, 'v2', ['v2', 'v1']);
    assert.deepEqual(plan.rollout, f.status?.rollout);
    assert.equal(plan.event, undefined, 'no second start');
    assert.equal(plan.requeueAfterMs, 30_000, 'the step ends when it would have under the last leader');
    // At step 2 of 2 the new leader serves step 2's split and judges its calls from now on.
    const atStep2 = withStatus(f, {
      traffic: [
        { version: 'v1', percent: 50 },
        { version: 'v2', percent: 50 },
      ],
      rollout: {
        phase: 'Progressing',
        stable: 'v1',
        candidate: 'v2',
        step: 2,
        steps: 2,
        since: new Date(T0).toISOString(),
      },
    });
    const resumed = next.plan(atStep2, 'v2', ['v2', 'v1']);
    assert.deepEqual(resumed.traffic, atStep2.status?.traffic);
    assert.equal(resumed.requeueAfterMs, 90_000);
    next.driver.onReport(outcomes(['v1', 30, 0], ['v2', 30, 15]));
    assert.deepEqual(next.requeued, ['team/hello']);
    assert.equal(next.plan(atStep2, 'v2', ['v2', 'v1']).rollout?.phase, 'RolledBack');
  });

  it('ignores outcomes of versions and Functions no rollout here judges', () => {
    const rig = new Rig();
    let f = withStatus(fn({ rollout: ROLLOUT }), { traffic: [{ version: 'v1', percent: 100 }] });
    f = applied(f, rig.plan(f, 'v2', ['v2', 'v1']));
    rig.driver.onReport({
      'team/hello@v7': { requests: 100, errors: 100, latency: {} },
      'team/other@v2': { requests: 100, errors: 100, latency: {} },
      'team/hello': { requests: 100, errors: 100, latency: {} },
      nonsense: { requests: 100, errors: 100, latency: {} },
    });
    assert.deepEqual(rig.requeued, []);
    assert.equal(rig.plan(f, 'v2', ['v2', 'v1']).rollout?.phase, 'Progressing');
  });
});
