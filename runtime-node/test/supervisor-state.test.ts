import assert from 'node:assert/strict';
import { MemoryStateStore } from '@nimbus/store';
import { ManualClock, settle as flush } from '@nimbus/testkit';
import { PortFunctionState } from '../src/state/function-state.js';
import {
  InvalidStateKeyError,
  StateUnavailableError,
  StateValueTooLargeError,
} from '../src/state/state-errors.js';
import {
  type IpcStateProcess,
  type StateChannel,
  SupervisorStatePort,
  ipcStateChannel,
} from '../src/state/supervisor-state.js';
import type { StateRequest } from '../src/supervisor-channel.js';
import { stateReply } from './support/state-supervisor.js';

/** A channel whose requests a test answers by hand, or lets a store answer. */
class TestChannel implements StateChannel {
  readonly sent: StateRequest[] = [];
  private listener: ((message: unknown) => void) | undefined;
  connected = true;
  failNext: Error | undefined;

  send(request: StateRequest, failed: (error: Error) => void): boolean {
    if (!this.connected) return false;
    this.sent.push(request);
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure !== undefined) queueMicrotask(() => failed(failure));
    return true;
  }

  onMessage(listener: (message: unknown) => void): void {
    this.listener = listener;
  }

  reply(message: unknown): void {
    this.listener?.(message);
  }
}

/** Answers every request of `channel` from one function's key space, as the supervisor does. */
async function answerFrom(store: MemoryStateStore, channel: TestChannel): Promise<void> {
  const state = store.scoped('team', 'counter');
  for (const request of channel.sent.splice(0)) {
    // Through JSON, as IPC sends it.
    channel.reply(JSON.parse(JSON.stringify(await stateReply(state, request))));
  }
}

describe('ctx.state over the supervisor channel (local mode)', () => {
  let clock: ManualClock;
  let channel: TestChannel;
  let store: MemoryStateStore;
  let port: SupervisorStatePort;
  let state: PortFunctionState;

  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000);
    channel = new TestChannel();
    store = new MemoryStateStore(clock, { maxValueBytes: 32 });
    // The port's own limit is above the store's, so the store's refusal is what some tests see.
    port = new SupervisorStatePort(channel, clock, 1000, 1024);
    state = new PortFunctionState(port);
  });

  /** Starts a call, lets the store answer it, and resolves its outcome. */
  async function call<T>(start: () => Promise<T>): Promise<T> {
    const pending = start();
    await flush();
    await answerFrom(store, channel);
    return pending;
  }

  it('runs every operation through the supervisor store', async () => {
    assert.equal(await call(() => state.get('k')), undefined);
    const version = await call(() => state.set('k', { a: 1 }, { ttlSeconds: 2 }));
    assert.equal(store.remainingTtl('team', 'counter', 'k'), 2000);
    assert.deepEqual(await call(() => state.getWithVersion('k')), { value: { a: 1 }, version });
    assert.equal(await call(() => state.compareAndSet('k', version, { a: 2 })), true);
    assert.equal(await call(() => state.compareAndSet('k', version, { a: 3 })), false);
    assert.equal(await call(() => state.incr('n', 5)), 5);
    assert.equal(await call(() => state.delete('k')), true);
    assert.equal(await call(() => state.get('k')), undefined);
  });

  it('sends one request per call, with the operation, its arguments and a fresh id', async () => {
    void state.set('k', 'v', { ttlSeconds: 1 });
    void state.incr('n', 3);
    void state.compareAndSet('k', null, 1);
    await flush();
    assert.deepEqual(
      channel.sent.map(({ id, ...rest }) => rest),
      [
        { type: 'state', op: 'set', key: 'k', value: 'v', ttlMs: 1000 },
        { type: 'state', op: 'incr', key: 'n', by: 3 },
        { type: 'state', op: 'compareAndSet', key: 'k', expectedVersion: null, value: 1 },
      ],
    );
    assert.equal(new Set(channel.sent.map((r) => r.id)).size, 3);
    await answerFrom(store, channel);
  });

  it('matches replies to calls by id, in whatever order they come', async () => {
    const first = state.incr('a');
    const second = state.incr('b', 10);
    await flush();
    const [r1, r2] = channel.sent;
    assert.ok(r1 && r2);
    channel.reply({ type: 'state-result', id: r2.id, ok: true, result: 10 });
    channel.reply({ type: 'state-result', id: r1.id, ok: true, result: 1 });
    assert.deepEqual(await Promise.all([first, second]), [1, 10]);
  });

  it("turns the supervisor's errors back into the runtime's, by name", async () => {
    await assert.rejects(
      call(() => state.set('big', 'x'.repeat(40))),
      (error: unknown) => {
        assert.ok(error instanceof StateValueTooLargeError, String(error));
        assert.equal(error.limit, 32);
        assert.match(error.message, /over the limit of 32 bytes/);
        return true;
      },
    );
    await assert.rejects(
      call(() => state.get('')),
      InvalidStateKeyError,
    );
  });

  it('refuses a value IPC would change (a Date) before sending it', async () => {
    await assert.rejects(state.set('when', new Date(0)), /plain JSON: \$ is a Date/);
    await assert.rejects(state.compareAndSet('n', null, { big: 10n }), /\$\.big is a bigint/);
    assert.equal(channel.sent.length, 0);
  });

  it('refuses a value over its limit before sending it: no transfer for a value the store would refuse', async () => {
    await assert.rejects(state.set('big', 'x'.repeat(2000)), (error: unknown) => {
      assert.ok(error instanceof StateValueTooLargeError, String(error));
      assert.equal(error.limit, 1024);
      assert.match(error.message, /is 2002 bytes as JSON, over the limit of 1024 bytes/);
      return true;
    });
    await assert.rejects(state.compareAndSet('big', null, 'x'.repeat(2000)), StateValueTooLargeError);
    assert.equal(channel.sent.length, 0);
  });

  it('fails a call the supervisor does not answer in time, and ignores the late reply', async () => {
    const pending = state.get('k');
    const outcome = pending.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await flush();
    clock.advance(999);
    await flush();
    assert.equal(channel.sent.length, 1);
    clock.advance(1);
    const error = await outcome;
    assert.ok(error instanceof StateUnavailableError, String(error));
    assert.match(error.message, /state get: the local supervisor did not answer within 1000 ms/);
    await answerFrom(store, channel); // late: dropped without a trace
    assert.equal(clock.pending, 0);
  });

  it('fails at once without a channel, and when the channel cannot deliver', async () => {
    channel.connected = false;
    await assert.rejects(state.incr('n'), /no supervisor channel/);
    channel.connected = true;
    channel.failNext = new Error('channel closed');
    await assert.rejects(state.incr('n'), (error: unknown) => {
      assert.ok(error instanceof StateUnavailableError);
      assert.match(error.message, /the supervisor channel failed: channel closed/);
      return true;
    });
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  it('fails the calls still waiting when it is closed', async () => {
    const pending = state.get('k');
    await flush();
    await state.close();
    await assert.rejects(pending, /shutting down/);
    assert.equal(clock.pending, 0);
  });

  it('ignores messages that are not its replies', async () => {
    const pending = state.incr('n');
    await flush();
    channel.reply({ type: 'specialise', env: {} });
    channel.reply({ type: 'state-result', id: 'x', ok: true });
    channel.reply({ type: 'state-result', id: 999, ok: true, result: 7 });
    channel.reply(null);
    await answerFrom(store, channel);
    assert.equal(await pending, 1);
  });

  it('sends over process IPC with a callback, and reports a process without a channel', () => {
    const sent: unknown[] = [];
    const listeners: ((m: unknown) => void)[] = [];
    const proc: IpcStateProcess = {
      connected: true,
      send: (message, _h, _o, callback) => {
        sent.push(message);
        callback?.(new Error('EPIPE'));
        return true;
      },
      on: (_event, listener) => listeners.push(listener),
    };
    const failures: Error[] = [];
    const ipc = ipcStateChannel(proc);
    assert.equal(
      ipc.send({ type: 'state', id: 1, op: 'get', key: 'k' }, (e) => failures.push(e)),
      true,
    );
    assert.deepEqual(sent, [{ type: 'state', id: 1, op: 'get', key: 'k' }]);
    assert.deepEqual(
      failures.map((e) => e.message),
      ['EPIPE'],
    );
    ipc.onMessage(() => {});
    assert.equal(listeners.length, 1);
    assert.equal(
      ipcStateChannel({ on: () => {} }).send({ type: 'state', id: 2, op: 'get', key: 'k' }, () => {}),
      false,
    );
    assert.equal(
      ipcStateChannel({ connected: false, send: () => true, on: () => {} }).send(
        { type: 'state', id: 3, op: 'get', key: 'k' },
        () => {},
      ),
      false,
    );
  });
});
