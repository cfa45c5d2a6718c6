import assert from 'node:assert/strict';
import {
  type FunctionResource,
  type Schedule,
  createLogger,
  schedulesOf,
  validateFunction,
} from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
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
