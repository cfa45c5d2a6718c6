import assert from 'node:assert/strict';
import type { FunctionResource } from '../src/function.js';
import { type Schedule, dueTicks, resumePoint, schedulesOf } from '../src/schedule-plan.js';
import { validateFunction } from '../src/validate.js';
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
  const everySecond = only(fn([{ schedule: { cron: '* * * * * *' } }]));
  const one = { catchUpMs: MINUTE, maxFire: 1 };

  it('the tick that fell due since the last pass fires; none before it falls due', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 59_999, one), { fire: [], missed: 0 });
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + MINUTE, one), { fire: [T0 + MINUTE], missed: 0 });
  });

  it('after ten minutes away, with a minute of catch-up: the last tick fires late, nine are missed', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 10 * MINUTE + 5000, one), {
      fire: [T0 + 10 * MINUTE],
      missed: 9,
    });
  });

  it('a catch-up window of zero fires only a tick due exactly now', () => {
    assert.deepEqual(dueTicks(everyMinute, T0, T0 + 2 * MINUTE + 1, { catchUpMs: 0, maxFire: 1 }), {
      fire: [],
      missed: 2,
    });
  });

  it('an every-second schedule a minute behind fires no burst: only the latest maxFire ticks', () => {
    assert.deepEqual(dueTicks(everySecond, T0 - MINUTE, T0, one), { fire: [T0], missed: 59 });
    assert.deepEqual(dueTicks(everySecond, T0 - MINUTE, T0 + 500, { catchUpMs: MINUTE, maxFire: 3 }), {
      fire: [T0 - 2000, T0 - 1000, T0],
      missed: 57,
    });
  });
});

describe('resumePoint: where a replica starts on a schedule it has just come to see', () => {
  const everySecond = only(fn([{ schedule: { cron: '* * * * * *' } }]));
  const cases: [string, number | undefined, number, number][] = [
    ['a schedule nobody saw before (this replica just recorded it): from now', T0, T0, T0],
    ['the store out of reach: from now, nothing replayed', undefined, T0, T0],
    ['first seen 5 s ago by another replica: from then', T0 - 5_000, T0, T0 - 5_000],
    ['first seen a day ago: from the start of the catch-up window', T0 - 86_400_000, T0, T0 - MINUTE],
    ['first seen "later" by a replica whose clock runs ahead: from then', T0 + 2_000, T0, T0 + 2_000],
  ];
  for (const [what, firstSeenAt, now, expected] of cases) {
    it(what, () => assert.equal(resumePoint(firstSeenAt, now, MINUTE), expected));
  }

  it('a new every-second schedule seen at 10:00:00.400 fires 10:00:01 first, and nothing earlier', () => {
    const seenAt = T0 + 400;
    const after = resumePoint(seenAt, seenAt, MINUTE);
    assert.deepEqual(dueTicks(everySecond, after, seenAt, { catchUpMs: MINUTE, maxFire: 1 }).fire, []);
    assert.deepEqual(dueTicks(everySecond, after, T0 + 1000, { catchUpMs: MINUTE, maxFire: 1 }).fire, [
      T0 + 1000,
    ]);
  });

  it('a gateway restarted 30 s into an every-second schedule seen an hour ago fires the one latest tick, not a minute of them', () => {
    const now = T0 + 30_500;
    const after = resumePoint(T0 - 3_600_000, now, MINUTE);
    assert.deepEqual(dueTicks(everySecond, after, now, { catchUpMs: MINUTE, maxFire: 1 }), {
      fire: [T0 + 30_000],
      missed: 59,
    });
  });
});
