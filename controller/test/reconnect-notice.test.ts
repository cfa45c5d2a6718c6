import assert from 'node:assert/strict';
import { ManualClock } from '@nimbus/testkit';
import { ReconnectNotice } from '../src/state/reconnect-notice.js';

describe('the reconnect notice (users made again after Redis comes back)', () => {
  let clock: ManualClock;
  let notices: number[];
  let notice: ReconnectNotice;

  beforeEach(() => {
    clock = new ManualClock(1_000_000);
    notices = [];
    notice = new ReconnectNotice(() => notices.push(clock.now()), clock, 5000);
  });

  it('says nothing about the first connect, and at once about a comeback', () => {
    notice.ready();
    assert.deepEqual(notices, []);
    notice.closed();
    clock.advance(700);
    notice.ready();
    assert.deepEqual(notices, [1_000_700]);
    notice.ready();
    assert.deepEqual(notices, [1_000_700], 'a ready without a loss before it is no comeback');
  });

  it('puts a comeback too soon after the last off to the end of the interval, and never drops it', () => {
    notice.closed();
    notice.ready();
    clock.advance(1000);
    notice.closed();
    notice.ready();
    assert.deepEqual(notices, [1_000_000]);
    clock.advance(3999);
    assert.deepEqual(notices, [1_000_000]);
    clock.advance(1);
    assert.deepEqual(notices, [1_000_000, 1_005_000]);
  });

  it('folds a refused login reconnecting every second into one notice per interval', () => {
    for (let i = 0; i < 12; i++) {
      notice.closed();
      notice.ready();
      clock.advance(1000);
    }
    assert.deepEqual(notices, [1_000_000, 1_005_000, 1_010_000]);
    assert.equal(clock.pending, 1, 'one notice waiting, not one per reconnect');
  });

  it('forgets a notice put off when it is stopped', () => {
    notice.closed();
    notice.ready();
    notice.closed();
    notice.ready();
    notice.stop();
    clock.advance(10_000);
    assert.deepEqual(notices, [1_000_000]);
    assert.equal(clock.pending, 0);
  });
});
