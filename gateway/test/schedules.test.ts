import assert from 'node:assert/strict';
import {
  type FunctionResource,
  type Schedule,
  createLogger,
  schedulesOf,
  validateFunction,
} from '@nimbus/api';
import { MemoryClaimStore } from '@nimbus/store';
import { ManualClock } from '@nimbus/testkit';
import {
  Scheduler,
  type SchedulerMetrics,
  type TickClaims,
  type TickSink,
} from '../src/schedules/scheduler.js';

const quiet = createLogger({}, 'error', () => {});
const MINUTE = 60_000;
const T0 = Date.parse('2026-11-24T10:00:00Z');
const LEASE_MS = 10_000;

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

/** The memory ClaimStore (the one local mode runs, held to the same contract as Redis's), which a test can make fail. */
class SharedClaims implements TickClaims {
  private readonly store: MemoryClaimStore;
  failing = false;
  constructor(clock: ManualClock) {
    this.store = new MemoryClaimStore(clock);
  }
  private check() {
    if (this.failing) throw new Error('Redis is away');
  }
  async claim(key: string, owner: string, ttlMs: number) {
    this.check();
    return this.store.claim(key, owner, ttlMs);
  }
  async release(key: string, owner: string) {
    this.check();
    return this.store.release(key, owner);
  }
  async holder(key: string) {
    this.check();
    return this.store.holder(key);
  }
  async renew(key: string, owner: string, ttlMs: number) {
    this.check();
    return this.store.renew(key, owner, ttlMs);
  }
  async takeOver(key: string, owner: string, ttlMs: number) {
    this.check();
    return this.store.takeOver(key, owner, ttlMs);
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
  skipped(s: Schedule) {
    this.events.push(`skipped ${s.key}`);
  }
  replaced(s: Schedule) {
    this.events.push(`replaced ${s.key}`);
  }
}

/** A function that runs until the test ends it, or until its call is cancelled. */
class SlowSink implements TickSink {
  readonly runs: { replica: string; tick: number; signal: AbortSignal; end: () => void }[] = [];
  constructor(private readonly replica: string) {}
  fire(_: Schedule, tick: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.runs.push({ replica: this.replica, tick, signal, end: resolve });
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

function replica(
  name: string,
  clock: ManualClock,
  claims: TickClaims,
  schedule: Schedule,
  sink: TickSink,
  metrics = new Counts(),
) {
  return new Scheduler(
    () => [schedule],
    claims,
    sink,
    clock,
    { owner: name, catchUpMs: MINUTE, passMs: 250, leaseMs: LEASE_MS },
    metrics,
    quiet,
  );
}

const recording = (name: string, fired: [string, number][]): TickSink => ({
  fire: async (_, tick) => void fired.push([name, tick]),
});

describe('Scheduler: each tick fires once across replicas, from when the schedule was first seen', () => {
  const schedule = only(fn([{ schedule: { cron: '* * * * *' } }]));
  const everySecond = only(fn([{ schedule: { cron: '* * * * * *' } }], 'ticker'));

  it('three replicas passing every second for ten minutes fire each tick exactly once, from the first tick after they saw it', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const replicas = ['a', 'b', 'c'].map((n) => replica(n, clock, claims, schedule, recording(n, fired)));
    for (const r of replicas) await r.runPass();
    for (let t = 0; t < (10 * MINUTE) / 1000; t++) {
      clock.advance(1000);
      for (const r of replicas) await r.runPass();
    }
    for (const r of replicas) await r.settled();
    const ticks = fired.map(([, tick]) => tick).sort((x, y) => x - y);
    assert.deepEqual(
      ticks,
      Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * MINUTE),
      '10:00 fell due before the schedule was seen, and does not fire',
    );
  });

  it('a new every-second schedule fires no tick from before it was seen: the first is the next second', async () => {
    const clock = new ManualClock(T0 + 400);
    const fired: [string, number][] = [];
    const metrics = new Counts();
    const r = replica('a', clock, new SharedClaims(clock), everySecond, recording('a', fired), metrics);
    await r.runPass();
    await r.settled();
    assert.equal(fired.length, 0, 'nothing at first sight, not even 10:00:00');
    for (let i = 0; i < 12; i++) {
      clock.advance(250);
      await r.runPass();
    }
    await r.settled();
    assert.deepEqual(
      fired.map(([, t]) => t),
      [T0 + 1000, T0 + 2000, T0 + 3000],
    );
    assert.deepEqual(
      metrics.events.filter((e) => !e.startsWith('fired')),
      [],
      'and nothing counted as missed',
    );
  });

  it('a replica that starts later starts from when the first one saw the schedule, and fires no tick twice', async () => {
    const clock = new ManualClock(T0 + 400);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const a = replica('a', clock, claims, everySecond, recording('a', fired));
    await a.runPass();
    clock.advance(2_000);
    await a.runPass(); // two seconds late: fires 10:00:01 and 10:00:02
    // b comes to it at 10:00:02.4: from when a first saw it, so only 10:00:02, which a has claimed.
    const b = replica('b', clock, claims, everySecond, recording('b', fired));
    await b.runPass();
    clock.advance(1_000);
    await b.runPass();
    await a.runPass();
    await a.settled();
    await b.settled();
    assert.deepEqual(fired, [
      ['a', T0 + 1000],
      ['a', T0 + 2000],
      ['b', T0 + 3000],
    ]);
  });

  it('a gateway restarted after one ran fires at most the one tick it missed, not a burst', async () => {
    const clock = new ManualClock(T0 + 400);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const first = replica('first', clock, claims, everySecond, recording('first', fired));
    await first.runPass();
    clock.advance(1_000);
    await first.runPass();
    await first.settled();
    assert.deepEqual(fired, [['first', T0 + 1000]]);
    // `first` goes away; 30 s pass with no gateway; `second` starts.
    clock.advance(30_000);
    const second = replica('second', clock, claims, everySecond, recording('second', fired));
    await second.runPass();
    await second.settled();
    assert.deepEqual(fired, [
      ['first', T0 + 1000],
      ['second', T0 + 31_000],
    ]);
  });

  it('a minute schedule down for two and a half minutes fires its latest missed tick late, when within the catch-up window', async () => {
    const clock = new ManualClock(T0 + 30_000);
    const claims = new SharedClaims(clock);
    const fired: [string, number][] = [];
    const first = replica('first', clock, claims, schedule, recording('first', fired));
    await first.runPass();
    clock.advance(MINUTE - 30_000 + 100);
    await first.runPass();
    await first.settled();
    assert.deepEqual(fired, [['first', T0 + MINUTE]]);
    clock.advance(2 * MINUTE + 30_000 - 100);
    const second = replica('second', clock, claims, schedule, recording('second', fired));
    await second.runPass();
    await second.settled();
    assert.deepEqual(fired, [
      ['first', T0 + MINUTE],
      ['second', T0 + 3 * MINUTE],
    ]);
  });

  it('claims out of reach: the schedule starts from now and the tick is not fired (at most once), and it says so', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    claims.failing = true;
    const fired: [string, number][] = [];
    const metrics = new Counts();
    const r = replica('a', clock, claims, schedule, recording('a', fired), metrics);
    await r.runPass();
    clock.advance(MINUTE);
    await r.runPass();
    assert.deepEqual(fired, []);
    assert.deepEqual(metrics.events, ['failed ops/report#0 claim']);
  });

  it('a slow invocation does not hold up the next pass (Allow); a failed one is counted', async () => {
    const clock = new ManualClock(T0 + 1);
    const claims = new SharedClaims(clock);
    const metrics = new Counts();
    let release: () => void = () => {};
    const fires: number[] = [];
    const r = replica(
      'a',
      clock,
      claims,
      schedule,
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
      metrics,
    );
    await r.runPass();
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
    const r = replica('a', clock, new SharedClaims(clock), schedule, recording('a', fired));
    r.start();
    await clock.advanceAndSettle(MINUTE);
    await r.stop();
    await r.settled();
    assert.equal(fired.length, 1);
    clock.advance(5 * MINUTE);
    assert.equal(fired.length, 1);
  });
});

describe('Scheduler: concurrencyPolicy across replicas', () => {
  const forbid = only(fn([{ schedule: { cron: '* * * * * *', concurrencyPolicy: 'Forbid' } }], 'forbid'));
  const replace = only(fn([{ schedule: { cron: '* * * * * *', concurrencyPolicy: 'Replace' } }], 'replace'));

  /** Two replicas on shared claims; each second, `order` says which passes first (and so wins the tick). */
  function pair(schedule: Schedule) {
    const clock = new ManualClock(T0 + 400);
    const claims = new SharedClaims(clock);
    const sinks = { a: new SlowSink('a'), b: new SlowSink('b') };
    const metrics = { a: new Counts(), b: new Counts() };
    const replicas = {
      a: replica('a', clock, claims, schedule, sinks.a, metrics.a),
      b: replica('b', clock, claims, schedule, sinks.b, metrics.b),
    };
    const second = async (first: 'a' | 'b') => {
      await clock.advanceAndSettle(1_000);
      await replicas[first].runPass();
      await replicas[first === 'a' ? 'b' : 'a'].runPass();
    };
    const runs = () => [...sinks.a.runs, ...sinks.b.runs].sort((x, y) => x.tick - y.tick);
    const events = () => [...metrics.a.events, ...metrics.b.events];
    return { clock, claims, replicas, second, runs, events };
  }

  it('Forbid: while a run on one replica goes on, the ticks the other wins are skipped and counted; once it ends, the next tick runs', async () => {
    const p = pair(forbid);
    await p.replicas.a.runPass();
    await p.replicas.b.runPass();
    await p.second('a'); // 10:00:01 runs on a
    await p.second('b'); // 10:00:02 won by b: skipped
    await p.second('a'); // 10:00:03 won by a: skipped
    assert.deepEqual(
      p.runs().map((r) => [r.replica, r.tick - T0]),
      [['a', 1000]],
    );
    assert.deepEqual(p.events(), ['skipped ops/forbid#0', 'skipped ops/forbid#0']);
    p.runs()[0]?.end();
    await p.replicas.a.settled();
    await p.second('b'); // 10:00:04 runs on b
    assert.deepEqual(
      p.runs().map((r) => [r.replica, r.tick - T0]),
      [
        ['a', 1000],
        ['b', 4000],
      ],
    );
    for (const r of p.runs()) r.end();
    await Promise.all([p.replicas.a.settled(), p.replicas.b.settled()]);
  });

  it('Forbid: a replica that died mid-run blocks the schedule only until its lease lapses', async () => {
    const p = pair(forbid);
    await p.replicas.a.runPass();
    await p.replicas.b.runPass();
    await p.second('a'); // 10:00:01 runs on a, which then dies: it renews its lease no more
    const dead = p.runs()[0];
    p.claims.failing = true; // a's renewals fail from here; b does not pass meanwhile
    await p.clock.advanceAndSettle(LEASE_MS);
    p.claims.failing = false;
    await p.clock.advanceAndSettle(1_000);
    await p.replicas.b.runPass(); // late: fires 10:00:10 and skips 10:00:11 and 10:00:12 (Forbid)
    assert.deepEqual(
      p.runs().map((r) => [r.replica, r.tick - T0]),
      [
        ['a', 1000],
        ['b', 10_000],
      ],
    );
    assert.deepEqual(p.events().filter((e) => e.startsWith('skipped')).length, 2);
    dead?.end();
    for (const r of p.runs()) r.end();
    await p.replicas.b.settled();
  });

  it('Replace on the same replica: the running call is cancelled at once, the new tick runs', async () => {
    const p = pair(replace);
    await p.replicas.a.runPass();
    await p.second('a');
    await p.replicas.a.runPass();
    await p.clock.advanceAndSettle(1_000);
    await p.replicas.a.runPass();
    const [first, second] = p.runs();
    assert.equal(first?.signal.aborted, true, 'the run of 10:00:01 was cancelled');
    assert.match(String(first?.signal.reason), /replaced by the tick of 2026-11-24T10:00:02/);
    assert.equal(second?.signal.aborted, false);
    assert.ok(p.events().includes('replaced ops/replace#0'));
    assert.ok(!p.events().some((e) => e.startsWith('failed')), 'a cancelled run is no failure');
    second?.end();
    await p.replicas.a.settled();
  });

  it('Replace across replicas: the other replica cancels its run at its next lease renewal, within a second', async () => {
    const p = pair(replace);
    await p.replicas.a.runPass();
    await p.replicas.b.runPass();
    await p.second('a'); // 10:00:01 runs on a
    await p.second('b'); // 10:00:02 won by b: takes the lease over
    const [onA, onB] = p.runs();
    assert.equal(onA?.replica, 'a');
    assert.equal(onB?.replica, 'b');
    assert.deepEqual(p.events(), ['replaced ops/replace#0']);
    // a renews every second at most: by then it finds its lease gone.
    await p.clock.advanceAndSettle(1_000);
    assert.equal(onA?.signal.aborted, true, "a's run was cancelled");
    assert.match(String(onA?.signal.reason), /another gateway/);
    assert.equal(onB?.signal.aborted, false);
    onB?.end();
    for (const r of p.runs()) r.end();
    await Promise.all([p.replicas.a.settled(), p.replicas.b.settled()]);
  });
});
