import assert from 'node:assert/strict';
import {
  type LeaseAction,
  type LeaseRecord,
  type Observation,
  leaseAction,
  microTime,
  recordKey,
} from '../src/leader/lease-decision.js';

const ME = 'controller-a';
const OTHER = 'controller-b';
/** This candidate's own clock; deliberately far from the times written in the records. */
const T0 = 5_000_000;

const heldBy = (
  holder: string | undefined,
  renewTime: string,
  extra: Partial<LeaseRecord> = {},
): LeaseRecord => ({
  ...(holder === undefined ? {} : { holderIdentity: holder }),
  leaseDurationSeconds: 15,
  renewTime,
  ...extra,
});

const RENEWED = '2024-05-01T12:00:00.000000Z';
const RENEWED_LATER = '2024-05-01T12:00:02.000000Z';
const otherLease = heldBy(OTHER, RENEWED);
/** This candidate saw otherLease as it is now at T0. */
const sawIt: Observation = { record: recordKey(otherLease), at: T0 };

describe('leaseAction', () => {
  const cases: {
    name: string;
    lease: LeaseRecord | undefined;
    observed: Observation | undefined;
    now: number;
    want: LeaseAction;
  }[] = [
    { name: 'no Lease yet: create it', lease: undefined, observed: undefined, now: T0, want: 'create' },
    {
      name: 'no Lease, whatever was observed before: create it',
      lease: undefined,
      observed: sawIt,
      now: T0 + 60_000,
      want: 'create',
    },
    { name: 'held by me: renew', lease: heldBy(ME, RENEWED), observed: undefined, now: T0, want: 'renew' },
    {
      name: 'held by me, even if my last renewal looks expired: renew',
      lease: heldBy(ME, RENEWED),
      observed: { record: recordKey(heldBy(ME, RENEWED)), at: T0 },
      now: T0 + 3_600_000,
      want: 'renew',
    },
    {
      name: 'empty holder (released on shutdown): acquire at once',
      lease: heldBy('', RENEWED),
      observed: undefined,
      now: T0,
      want: 'acquire',
    },
    {
      name: 'no holder field at all: acquire at once',
      lease: heldBy(undefined, RENEWED),
      observed: undefined,
      now: T0,
      want: 'acquire',
    },
    {
      name: 'held by another, never observed before: wait',
      lease: otherLease,
      observed: undefined,
      now: T0 + 3_600_000,
      want: 'wait',
    },
    {
      name: 'held by another who renewed since it was observed: wait, however long ago that was',
      lease: heldBy(OTHER, RENEWED_LATER),
      observed: sawIt,
      now: T0 + 3_600_000,
      want: 'wait',
    },
    {
      name: 'taken over by a third candidate since it was observed: wait',
      lease: heldBy('controller-c', RENEWED),
      observed: sawIt,
      now: T0 + 3_600_000,
      want: 'wait',
    },
    {
      name: 'unchanged since observed, just now: wait',
      lease: otherLease,
      observed: sawIt,
      now: T0,
      want: 'wait',
    },
    {
      name: 'unchanged for 1 ms less than the lease duration: wait',
      lease: otherLease,
      observed: sawIt,
      now: T0 + 14_999,
      want: 'wait',
    },
    {
      name: 'unchanged for exactly the lease duration: acquire',
      lease: otherLease,
      observed: sawIt,
      now: T0 + 15_000,
      want: 'acquire',
    },
    {
      name: 'unchanged for longer than the lease duration: acquire',
      lease: otherLease,
      observed: sawIt,
      now: T0 + 60_000,
      want: 'acquire',
    },
    {
      name: "the record's own duration counts: 5 s unchanged under a 5 s lease: acquire",
      lease: heldBy(OTHER, RENEWED, { leaseDurationSeconds: 5 }),
      observed: { record: recordKey(otherLease), at: T0 },
      now: T0 + 5_000,
      want: 'acquire',
    },
    {
      name: "the record's own duration counts: 20 s unchanged under a 30 s lease: wait",
      lease: heldBy(OTHER, RENEWED, { leaseDurationSeconds: 30 }),
      observed: { record: recordKey(otherLease), at: T0 },
      now: T0 + 20_000,
      want: 'wait',
    },
    {
      name: 'no duration in the record: 15 s is assumed (14.999 s: wait)',
      lease: { holderIdentity: OTHER, renewTime: RENEWED },
      observed: sawIt,
      now: T0 + 14_999,
      want: 'wait',
    },
    {
      name: 'no duration in the record: 15 s is assumed (15 s: acquire)',
      lease: { holderIdentity: OTHER, renewTime: RENEWED },
      observed: sawIt,
      now: T0 + 15_000,
      want: 'acquire',
    },
    {
      name: "a renewTime long past by the holder's clock is not expiry: only this candidate's clock counts",
      lease: heldBy(OTHER, '2000-01-01T00:00:00.000000Z'),
      observed: { record: recordKey(heldBy(OTHER, '2000-01-01T00:00:00.000000Z')), at: T0 },
      now: T0 + 1,
      want: 'wait',
    },
    {
      name: 'a change to fields other than holder and renewTime is not a renewal: acquire once expired',
      lease: heldBy(OTHER, RENEWED, { leaseTransitions: 7, acquireTime: RENEWED_LATER }),
      observed: sawIt,
      now: T0 + 15_000,
      want: 'acquire',
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      assert.equal(leaseAction(c.lease, ME, c.observed, c.now), c.want);
    });
  }
});

describe('recordKey', () => {
  const cases: { name: string; a: LeaseRecord; b: LeaseRecord; same: boolean }[] = [
    {
      name: 'same holder and renewal: same key',
      a: heldBy(OTHER, RENEWED),
      b: heldBy(OTHER, RENEWED),
      same: true,
    },
    {
      name: 'a new renewTime: a new key',
      a: heldBy(OTHER, RENEWED),
      b: heldBy(OTHER, RENEWED_LATER),
      same: false,
    },
    { name: 'a new holder: a new key', a: heldBy(OTHER, RENEWED), b: heldBy(ME, RENEWED), same: false },
    {
      name: 'duration, transitions and acquireTime do not change the key',
      a: heldBy(OTHER, RENEWED),
      b: heldBy(OTHER, RENEWED, {
        leaseDurationSeconds: 30,
        leaseTransitions: 3,
        acquireTime: RENEWED_LATER,
      }),
      same: true,
    },
    {
      name: 'an empty holder and a missing one read alike',
      a: heldBy('', RENEWED),
      b: heldBy(undefined, RENEWED),
      same: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(recordKey(c.a) === recordKey(c.b), c.same);
    });
  }

  it('is built from the holder and the renewal time', () => {
    assert.equal(recordKey(heldBy(OTHER, RENEWED)), `${OTHER}@${RENEWED}`);
    assert.equal(recordKey({}), '@');
  });
});

describe('microTime', () => {
  const cases: { name: string; ms: number; want: string }[] = [
    { name: 'the epoch', ms: 0, want: '1970-01-01T00:00:00.000000Z' },
    {
      name: 'milliseconds become the first three of six digits',
      ms: 1_700_000_000_123,
      want: '2023-11-14T22:13:20.123000Z',
    },
    {
      name: 'a whole second keeps six zero digits',
      ms: 1_714_564_800_000,
      want: '2024-05-01T12:00:00.000000Z',
    },
    { name: 'one millisecond', ms: 1_714_564_800_001, want: '2024-05-01T12:00:00.001000Z' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const text = microTime(c.ms);
      assert.equal(text, c.want);
      assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(Date.parse(text), c.ms);
    });
  }
});
