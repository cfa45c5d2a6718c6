import assert from 'node:assert/strict';
import { type FunctionResource, createLogger, validateFunction } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import { type Schedule, dueTicks, schedulesOf } from '../src/schedules/schedule-plan.js';
import { Scheduler, type SchedulerMetrics, type TickClaims } from '../src/schedules/scheduler.js';

const quiet = createLogger({}, 'error', () => {});
const MINUTE = 60_000;
const T0 = Date.parse('2026-11-24T10:00:00Z');

function fn(triggers: unknown[], name = 'report'): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'ops' },
    spec: { source: { inline: 'export default () => 1' }, triggers },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const only = (f: FunctionResource): Schedule => {
  const { schedules, problems } = schedulesOf(f);
  assert.deepEqual(problems, []);
  assert.equal(schedules.length, 1);
  return schedules[0] as Schedule;
};

describe('schedulesOf: a Function’s cron triggers', () => {
  it('five fields, in UTC unless told: the next tick after a time', () => {
    const s = only(fn([{ schedule: { cron: '*/15 * * * *' } }]));
    assert.equal(s.key, 'ops/report#0');
    assert.equal(s.timezone, 'UTC');
    assert.equal(new Date(s.next(T0) ?? 0).toISOString(), '2026-11-24T10:15:00.000Z');
  });

  it('six fields put seconds first', () => {
    const s = only(fn([{ schedule: { cron: '30 * * * * *' } }]));
    assert.equal(new Date(s.next(T0) ?? 0).toISOString(), '2026-11-24T10:00:30.000Z');
  });

  it('a time zone moves the ticks: 09:00 in Berlin is 08:00 UTC in winter', () => {
    const s = only(fn([{ schedule: { cron: '0 9 * * *', timezone: 'Europe/Berlin' } }]));
    assert.equal(new Date(s.next(T0) ?? 0).toISOString(), '2026-11-25T08:00:00.000Z');
  });

  it('keeps the body and the index of each schedule among the triggers', () => {
    const { schedules } = schedulesOf(
      fn([{ nats: { subject: 'a' } }, { schedule: { cron: '0 * * * *', body: '{"kind":"hourly"}' } }]),
    );
    assert.deepEqual(
      schedules.map((s) => [s.key, s.index, s.body]),
      [['ops/report#1', 1, '{"kind":"hourly"}']],
    );
  });

  const bad: [string, Record<string, string>, string][] = [
    ['a pattern of four fields', { cron: '* * * * 1 2 3' }, 'spec.triggers[0].schedule.cron'],
    ['a minute of 61', { cron: '61 * * * *' }, 'spec.triggers[0].schedule.cron'],
    [
      'a time zone that does not exist',
      { cron: '0 * * * *', timezone: 'Mars/Olympus' },
      'spec.triggers[0].schedule.timezone',
    ],
  ];
  for (const [what, schedule, field] of bad) {
    it(`refuses ${what}, naming ${field}, and keeps the others`, () => {
      const { schedules, problems } = schedulesOf(fn([{ schedule }, { schedule: { cron: '0 * * * *' } }]));
      assert.deepEqual(
        problems.map((p) => p.field),
        [field],
      );
      assert.equal(schedules.length, 1);
    });
  }
});

describe('dueTicks: what fires at a pass, and the policy for ticks missed while nothing ran', () => {
  const everyMinute = only(fn([{ schedule: { cron: '* * * * *' } }]));

  it('the tick that fell due since the last pass fires; none before it falls due', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 59_999, MINUTE), { fire: [], missed: 0 });
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + MINUTE, MINUTE), { fire: [T0 + MINUTE], missed: 0 });
  });

  it('after ten minutes away, with a minute of catch-up: the last tick fires late, nine are missed', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 10 * MINUTE + 5000, MINUTE), {
      fire: [T0 + 10 * MINUTE],
      missed: 9,
    });
  });

  it('a catch-up window of zero fires only a tick due exactly now', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 2 * MINUTE + 1, 0), { fire: [], missed: 2 });
  });
});

/** Claims as Redis's SET NX PX keeps them: the first claim of a key wins until it expires. */
class SharedClaims implements TickClaims {
  readonly held = new Map<string, { owner: string; until: number }>();
  failing = false;
  constructor(private readonly clock: ManualClock) {}
  async claim(key: string, owner: string, ttlMs: number): Promise<boolean> {
    if (this.failing) throw new Error('Redis is away');
    const now = this.clock.now();
    const current = this.held.get(key);
    if (current !== undefined && current.until > now) return false;
    this.held.set(key, { owner, until: now + ttlMs });
    return true;
  }
}

class Counts implements SchedulerMetrics {
  readonly events: string[] = [];
  fired(s: Schedule) {
    this.events.push(`fired ${s.key}`);
  }
  missed(s: Schedule, n: number) {
    this.events.push(`missed ${s.key} ${n}`);
  }
  failed(s: Schedule, stage: string) {
    this.events.push(`failed ${s.key} ${stage}`);
  }
}

describe('Scheduler: each tick fires once across replicas', () => {
  const schedule = only(fn([{ schedule: { cron: '* * * * *' } }]));

  function replica(
    name: string,
    clock: ManualClock,
    claims: TickClaims,
    fired: [string, number][],
    metrics = new Counts(),
  ) {
    return new Scheduler(
      () => [schedule],
      claims,
      { fire: async (s, tick) => void fired.push([name, tick]) },
      clock,
      { owner: name, catchUpMs: MINUTE, passMs: 250 },
      metrics,
      quiet,
    );
  }

  it('three replicas passing every second for ten minutes fire each tick exactly once (10:00, just missed at start, included)', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const replicas = ['a', 'b', 'c'].map((n) => replica(n, clock, claims, fired));
    for (let t = 0; t < (10 * MINUTE) / 1000; t++) {
      clock.advance(1000);
      for (const r of replicas) await r.runPass();
    }
    for (const r of replicas) await r.settled();
    const ticks = fired.map(([, tick]) => tick).sort((x, y) => x - y);
    assert.deepEqual(
      ticks,
      Array.from({ length: 11 }, (_, i) => T0 + i * MINUTE),
    );
  });

  it('a replica started right after one fired a tick does not fire it again; a tick nobody fired within the catch-up window fires late', async () => {
    const clock = new ManualClock(T0 + MINUTE + 100);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const first = replica('first', clock, claims, fired);
    await first.runPass();
    await first.settled();
    assert.deepEqual(fired, [['first', T0 + MINUTE]], 'fired on its first pass: less than a minute late');
    // `first` goes away; two minutes pass with no gateway; `second` starts 30 s after the 10:03 tick.
    clock.advance(2 * MINUTE + 30_000 - 100);
    const second = replica('second', clock, claims, fired);
    await second.runPass();
    await second.settled();
    assert.deepEqual(fired, [
      ['first', T0 + MINUTE],
      ['second', T0 + 3 * MINUTE],
    ]);
  });

  it('claims out of reach: the tick is not fired (at most once), and it says so', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    claims.failing = true;
    const fired: [string, number][] = [];
    const metrics = new Counts();
    const r = replica('a', clock, claims, fired, metrics);
    await r.runPass();
    clock.advance(MINUTE);
    await r.runPass();
    assert.deepEqual(fired, []);
    assert.deepEqual(metrics.events, ['failed ops/report#0 claim', 'failed ops/report#0 claim']);
  });

  it('a slow invocation does not hold up the next pass; a failed one is counted', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    const metrics = new Counts();
    let release: () => void = () => {};
    const fires: number[] = [];
    const r = new Scheduler(
      () => [schedule],
      claims,
      {
        fire: (_, tick) => {
          fires.push(tick);
          if (fires.length === 1)
            return new Promise<void>((resolve) => {
              release = resolve;
            });
          return Promise.reject(new Error('the function answered 500'));
        },
      },
      clock,
      { owner: 'a', catchUpMs: MINUTE, passMs: 250 },
      metrics,
      quiet,
    );
    clock.advance(MINUTE);
    await r.runPass();
    clock.advance(MINUTE);
    await r.runPass();
    assert.deepEqual(
      fires,
      [T0 + MINUTE, T0 + 2 * MINUTE],
      'the second tick fired while the first still ran',
    );
    release();
    await r.settled();
    assert.deepEqual(metrics.events, ['failed ops/report#0 fire', 'fired ops/report#0']);
  });

  it('runs its passes on the clock once started, and none after stop', async () => {
    const clock = new ManualClock(T0 + 1);
    const fired: [string, number][] = [];
    const r = replica('a', clock, new SharedClaims(clock), fired);
    r.start();
    clock.advance(MINUTE);
    await r.stop();
    await r.settled();
    assert.equal(fired.length, 1);
    clock.advance(5 * MINUTE);
    assert.equal(fired.length, 1);
  });
});
