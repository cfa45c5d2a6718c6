import assert from 'node:assert/strict';
import { createLogger } from '@nimbus/api';
import { BusUnavailableError, CALLS_STREAM, MemoryBus, type MessageBus } from '@nimbus/bus';
import { ManualClock, eventually, settle } from '@nimbus/testkit';
import { readAsyncConfig } from '../src/async/async-config.js';
import { CallQueue } from '../src/async/call-queue.js';

const log = createLogger({}, 'error');
const config = readAsyncConfig({ NIMBUS_NATS_URL: 'nats://127.0.0.1:4' });
const publish = (queue: CallQueue) => queue.publish('nimbus.calls.default.job', new Uint8Array([1]), {});

describe('CallQueue: the way to the calls stream', () => {
  let bus: MemoryBus;
  let queue: CallQueue | undefined;

  beforeEach(() => {
    bus = new MemoryBus();
  });

  afterEach(async () => {
    await queue?.close();
    await bus.close();
  });

  it('keeps trying to connect, refusing calls with a reason until it can, and never throws at start', async () => {
    let attempts = 0;
    queue = new CallQueue(config, log, undefined, async () => {
      attempts++;
      if (attempts < 3) throw new BusUnavailableError('connection refused', 'disconnected');
      return bus as MessageBus;
    });
    assert.equal(queue.unavailableReason(), 'not connected to NATS yet');
    await assert.rejects(publish(queue), (err: unknown) => err instanceof BusUnavailableError);
    queue.start();
    const connected = await queue.whenConnected();
    assert.equal(connected, bus);
    assert.equal(attempts, 3);
    assert.equal(queue.unavailableReason(), undefined);
    assert.equal((await publish(queue)).stream, CALLS_STREAM);
    assert.equal(await queue.whenConnected(), bus, 'later callers get the bus at once');
    assert.ok(await bus.consumerInfo(CALLS_STREAM, 'nimbus-calls'), 'the shared durable exists');
  });

  it('waits 50–100 ms after the first failure to reach NATS, then twice as long each time, at most 5 s', async () => {
    const clock = new ManualClock();
    const tries: number[] = [];
    queue = new CallQueue(
      config,
      log,
      undefined,
      async () => {
        tries.push(clock.now());
        throw new BusUnavailableError('connection refused', 'disconnected');
      },
      clock,
    );
    queue.start();
    await settle();
    await clock.advanceAndSettle(30_000);
    // Equal jitter over 100·2^n ms capped at 5 s: between half the step and the step.
    const steps = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000];
    assert.ok(tries.length > steps.length, `${tries.length} tries in 30 s`);
    steps.forEach((step, n) => {
      const waited = (tries[n + 1] as number) - (tries[n] as number);
      assert.ok(waited >= step / 2 && waited <= step, `wait ${n + 1}: ${waited} ms, step ${step} ms`);
    });
    assert.equal(queue.unavailableReason(), 'not connected to NATS yet');
  });

  it('sets the stream up again when a publish finds it gone (a NATS that lost its store)', async () => {
    queue = new CallQueue(config, log, bus);
    queue.start();
    await queue.whenConnected();
    await bus.deleteStream(CALLS_STREAM);
    await assert.rejects(
      publish(queue),
      (err: unknown) => err instanceof BusUnavailableError && err.reason === 'no-stream',
    );
    const ack = await eventually(
      () => publish(queue as CallQueue).catch(() => undefined),
      5_000,
      'the stream again',
    );
    assert.equal(ack.stream, CALLS_STREAM);
  });

  it('answers waiters with nothing once closed, and refuses calls', async () => {
    queue = new CallQueue(config, log, undefined, () => new Promise(() => {}));
    const waiting = queue.whenConnected();
    await queue.close();
    assert.equal(await waiting, undefined);
    assert.equal(queue.unavailableReason(), 'the gateway is shutting down');
  });
});
