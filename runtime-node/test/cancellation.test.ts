import assert from 'node:assert/strict';
import { Cancellation } from '../src/invoke/cancellation.js';

describe('Cancellation', () => {
  it('tells each listener once, keeps the first reason, and skips a listener taken off', () => {
    const cancellation = new Cancellation();
    const heard: string[] = [];
    const removed = () => heard.push('removed');
    cancellation.onAbort(() => heard.push('first'));
    cancellation.onAbort(removed);
    cancellation.onAbort(() => heard.push('last'));
    cancellation.offAbort(removed);
    const reason = new Error('deadline');
    cancellation.abort(reason);
    cancellation.abort(new Error('client gone'));
    assert.deepEqual(heard, ['first', 'last']);
    assert.equal(cancellation.aborted, true);
    assert.equal(cancellation.reason, reason);
    assert.throws(
      () => cancellation.throwIfAborted(),
      (error) => error === reason,
    );
  });

  it('never calls a listener added after the abort', () => {
    const cancellation = new Cancellation();
    cancellation.abort(new Error('gone'));
    let called = false;
    cancellation.onAbort(() => {
      called = true;
    });
    assert.equal(called, false);
  });

  it('makes one AbortSignal that follows it, already aborted if made late', () => {
    const early = new Cancellation();
    const signal = early.signal;
    assert.equal(early.signal, signal);
    const reason = new Error('deadline');
    early.abort(reason);
    assert.deepEqual([signal.aborted, signal.reason], [true, reason]);

    const late = new Cancellation();
    late.abort(reason);
    assert.deepEqual([late.signal.aborted, late.signal.reason], [true, reason]);
  });
});
