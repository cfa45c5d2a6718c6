import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import type { Problem } from '../src/http/problems.js';
import { HoldQueue } from '../src/routing/hold-queue.js';
import { type FunctionRoute, RouteTable } from '../src/routing/route-table.js';

const WAKE_TIMEOUT_MS = 400;
const REPLICA = { id: 'cold-0', host: '127.0.0.1', port: 8080 };

/** What became of one held request. */
interface Fate {
  released: boolean;
  dropped: Problem | undefined;
}

describe('HoldQueue (a ManualClock steps the wake timeout)', () => {
  let clock: ManualClock;
  let routes: RouteTable;
  let route: FunctionRoute;
  let woken: string[];
  let holds: HoldQueue;

  const holdOne = (): Fate => {
    const fate: Fate = { released: false, dropped: undefined };
    const ticket = holds.hold(route, {
      release: () => {
        fate.released = true;
      },
      drop: (problem) => {
        fate.dropped = problem;
      },
    });
    assert.ok('leave' in ticket, 'held, not refused');
    return fate;
  };

  beforeEach(() => {
    clock = new ManualClock(1_000);
    routes = new RouteTable();
    route = routes.upsert({
      name: 'cold',
      namespace: 'default',
      timeoutMs: 5000,
      concurrency: 1,
      auth: 'none',
    });
    routes.setEndpoints('default', 'cold', [], 'starting');
    woken = [];
    holds = new HoldQueue({ holdQueueSize: 2, wakeTimeoutMs: WAKE_TIMEOUT_MS }, clock, {
      wake: (r) => woken.push(r.key),
    });
  });

  it('wakes the function for each request it holds, and counts them on the route', () => {
    holdOne();
    holdOne();
    assert.deepEqual(woken, ['default/cold', 'default/cold']);
    assert.equal(route.held.size, 2);
    assert.equal(clock.pending, 2, 'one wake timer per held request');
  });

  it('answers 503 with the reason once the wake timeout passes, and not a moment before', () => {
    const fate = holdOne();
    clock.advance(WAKE_TIMEOUT_MS - 1);
    const early = fate.dropped;
    assert.equal(early, undefined, 'still held a millisecond before');
    assert.equal(route.held.size, 1);
    clock.advance(1);
    assert.equal(fate.released, false);
    assert.equal(fate.dropped?.status, 503);
    assert.equal(fate.dropped?.code, 'FunctionUnavailable');
    assert.match(String(fate.dropped?.message), /starting \(waited 400 ms\)$/);
    assert.equal(fate.dropped?.headers['retry-after'], '1');
    assert.equal(route.held.size, 0, 'it left the queue');
  });

  it('releases every held request the moment a replica is ready, and their timers with them', () => {
    const first = holdOne();
    clock.advance(WAKE_TIMEOUT_MS / 2);
    const second = holdOne();
    routes.setEndpoints('default', 'cold', [REPLICA]);
    assert.deepEqual(
      [first, second],
      [
        { released: true, dropped: undefined },
        { released: true, dropped: undefined },
      ],
    );
    assert.equal(route.held.size, 0);
    assert.equal(clock.pending, 0, 'no wake timer left to fire');
    clock.advance(WAKE_TIMEOUT_MS * 2);
    assert.equal(first.dropped, undefined, 'a released request is never dropped later');
  });

  it('keeps holding while replicas come and go without one ready, then times out', () => {
    const fate = holdOne();
    clock.advance(100);
    routes.setEndpoints('default', 'cold', [], 'pulling the image');
    assert.equal(route.held.size, 1, 'not ready, not failed: it waits on');
    clock.advance(WAKE_TIMEOUT_MS - 100);
    assert.match(String(fate.dropped?.message), /pulling the image \(waited 400 ms\)$/, 'the latest reason');
  });

  it('answers at once when no replica can come up, or the function is removed', () => {
    const failed = holdOne();
    routes.setEndpoints('default', 'cold', [], 'handler failed to load', true);
    assert.equal(failed.dropped?.status, 503);
    assert.match(String(failed.dropped?.message), /handler failed to load$/);
    routes.setEndpoints('default', 'cold', [], 'starting');
    const removed = holdOne();
    routes.remove('default', 'cold');
    assert.equal(removed.dropped?.status, 404);
    assert.equal(removed.dropped?.code, 'FunctionNotFound');
    assert.equal(clock.pending, 0);
  });

  it('refuses beyond its bound (HoldQueueFull), or with no room at all (the reason), and wakes nothing then', () => {
    holdOne();
    holdOne();
    const full = holds.hold(route, { release: () => {}, drop: () => {} });
    assert.equal((full as Problem).code, 'HoldQueueFull');
    assert.equal(woken.length, 2);
    const none = new HoldQueue({ holdQueueSize: 0, wakeTimeoutMs: WAKE_TIMEOUT_MS }, clock, {
      wake: () => assert.fail('woken'),
    });
    const refused = none.hold(route, { release: () => {}, drop: () => {} }) as Problem;
    assert.equal(refused.code, 'FunctionUnavailable');
    assert.match(refused.message, /starting$/);
  });

  it('lets a request leave the queue: its timer goes, and a replica coming up does not release it', () => {
    const ticket = holds.hold(route, {
      release: () => assert.fail('released after it left'),
      drop: () => assert.fail('dropped after it left'),
    });
    assert.ok('leave' in ticket);
    ticket.leave();
    assert.equal(route.held.size, 0);
    assert.equal(clock.pending, 0);
    routes.setEndpoints('default', 'cold', [REPLICA]);
    clock.advance(WAKE_TIMEOUT_MS);
  });

  it('wait(): resolves when a replica is ready, or with the problem when the wait runs out', async () => {
    const ready = holds.wait(route);
    routes.setEndpoints('default', 'cold', [REPLICA]);
    assert.equal(await ready, undefined);
    routes.setEndpoints('default', 'cold', [], 'starting');
    const late = holds.wait(route);
    clock.advance(WAKE_TIMEOUT_MS);
    assert.equal((await late)?.status, 503);
  });
});
