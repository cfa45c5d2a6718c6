import assert from 'node:assert/strict';
import type { Condition, FunctionState } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import {
  type RetentionDecision,
  type RetentionRecord,
  decideStateRetention,
  retentionRecord,
  retentionVerdict,
} from '../src/state/state-retention.js';

const T0 = Date.parse('2026-12-06T10:00:00Z');
const HOUR = 3_600_000;

const wasOn: RetentionRecord = { held: true, since: undefined, deleted: false };
const keptSinceT0: RetentionRecord = { held: true, since: T0, deleted: false };
const nothing: RetentionRecord = { held: false, since: undefined, deleted: false };

describe('decideStateRetention', () => {
  const cases: {
    name: string;
    state: FunctionState | undefined;
    record: RetentionRecord;
    now: number;
    want: RetentionDecision;
  }[] = [
    {
      name: 'state on: nothing to decide',
      state: { enabled: true },
      record: wasOn,
      now: T0,
      want: { action: 'none' },
    },
    {
      name: 'state on with Delete: the policy waits for state to be turned off',
      state: { enabled: true, deletionPolicy: 'Delete' },
      record: wasOn,
      now: T0,
      want: { action: 'none' },
    },
    {
      name: 'never had state: nothing held',
      state: { enabled: false, deletionPolicy: 'Delete' },
      record: nothing,
      now: T0,
      want: { action: 'none' },
    },
    {
      name: 'turned off, no policy: kept until the Function is deleted',
      state: { enabled: false },
      record: wasOn,
      now: T0,
      want: { action: 'retain', since: T0, until: undefined },
    },
    {
      name: 'spec.state removed altogether: kept the same',
      state: undefined,
      record: wasOn,
      now: T0,
      want: { action: 'retain', since: T0, until: undefined },
    },
    {
      name: 'kept for a year already: still kept without retainFor',
      state: { enabled: false, deletionPolicy: 'Retain' },
      record: keptSinceT0,
      now: T0 + 8760 * HOUR,
      want: { action: 'retain', since: T0, until: undefined },
    },
    {
      name: 'turned off with Delete: deleted at once',
      state: { enabled: false, deletionPolicy: 'Delete' },
      record: wasOn,
      now: T0,
      want: { action: 'delete', why: 'policy' },
    },
    {
      name: 'Delete set while kept: deleted at once',
      state: { enabled: false, deletionPolicy: 'Delete' },
      record: keptSinceT0,
      now: T0 + HOUR,
      want: { action: 'delete', why: 'policy' },
    },
    {
      name: 'turned off with retainFor: kept until then, counted from now',
      state: { enabled: false, retainFor: '2h' },
      record: wasOn,
      now: T0,
      want: { action: 'retain', since: T0, until: T0 + 2 * HOUR },
    },
    {
      name: 'retainFor counts from when the keys started being kept, not from each reconcile',
      state: { enabled: false, retainFor: '2h' },
      record: keptSinceT0,
      now: T0 + HOUR,
      want: { action: 'retain', since: T0, until: T0 + 2 * HOUR },
    },
    {
      name: 'a millisecond before retainFor passes: still kept',
      state: { enabled: false, retainFor: '2h' },
      record: keptSinceT0,
      now: T0 + 2 * HOUR - 1,
      want: { action: 'retain', since: T0, until: T0 + 2 * HOUR },
    },
    {
      name: 'retainFor has passed: deleted',
      state: { enabled: false, retainFor: '2h' },
      record: keptSinceT0,
      now: T0 + 2 * HOUR,
      want: { action: 'delete', why: 'elapsed' },
    },
    {
      name: 'retainFor set later, already shorter than the time kept: deleted',
      state: { enabled: false, deletionPolicy: 'Retain', retainFor: '30m' },
      record: keptSinceT0,
      now: T0 + HOUR,
      want: { action: 'delete', why: 'elapsed' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(decideStateRetention(c.state, c.record, c.now), c.want));
  }

  it('lets a retention period run out only as the clock steps through it', () => {
    const clock = new ManualClock(T0);
    const state: FunctionState = { enabled: false, retainFor: '90m' };
    // The first reconcile after state went off starts the period; later ones read it back from the status.
    const first = decideStateRetention(state, wasOn, clock.now());
    assert.equal(first.action, 'retain');
    const record = { held: true, since: first.action === 'retain' ? first.since : undefined, deleted: false };
    const seen: string[] = [];
    for (let step = 0; step < 4; step++) {
      clock.advance(30 * 60_000);
      seen.push(decideStateRetention(state, record, clock.now()).action);
    }
    assert.deepEqual(seen, ['retain', 'retain', 'delete', 'delete']);
  });
});

describe('retentionRecord: what the status says of the keys', () => {
  const condition = (type: string, status: 'True' | 'False', at = '2026-12-06T10:00:00Z'): Condition => ({
    type,
    status,
    reason: 'x',
    lastTransitionTime: at,
  });
  const cases: { name: string; conditions: Condition[] | undefined; want: RetentionRecord }[] = [
    { name: 'no status yet', conditions: undefined, want: nothing },
    { name: 'no state ever', conditions: [condition('Ready', 'True')], want: nothing },
    {
      name: 'state was on (StateReady, even False)',
      conditions: [condition('StateReady', 'False')],
      want: wasOn,
    },
    { name: 'kept since T0', conditions: [condition('StateRetained', 'True')], want: keptSinceT0 },
    {
      name: 'already deleted',
      conditions: [condition('StateRetained', 'False')],
      want: { held: false, since: undefined, deleted: true },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(retentionRecord(c.conditions), c.want));
});

describe('retentionVerdict: the StateRetained condition', () => {
  it('says until when the keys are kept, and why they went', () => {
    const state: FunctionState = { enabled: false, retainFor: '2h' };
    assert.match(
      retentionVerdict({ action: 'retain', since: T0, until: T0 + 2 * HOUR }, state).message,
      /kept until 2026-12-06T12:00:00Z \(retainFor 2h\)/,
    );
    assert.equal(
      retentionVerdict({ action: 'retain', since: T0, until: undefined }, state).reason,
      'Retained',
    );
    const deleted = retentionVerdict({ action: 'delete', why: 'elapsed' }, state);
    assert.deepEqual([deleted.status, deleted.reason], ['False', 'KeysDeleted']);
    assert.match(deleted.message, /retainFor \(2h\) has passed/);
  });
});
