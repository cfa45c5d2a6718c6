import { strict as assert } from 'node:assert';
import {
  BusConfigError,
  type ConsumerConfig,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_ACK_PENDING,
  consumerChanges,
  resolveConsumerConfig,
  resolveStreamConfig,
  retryDelay,
  streamChanges,
} from '../src/index.js';
import { reconnectDelay } from '../src/retry-delay.js';

describe('stream and consumer configs', () => {
  it('fills in stream defaults', () => {
    assert.deepEqual(resolveStreamConfig({ name: 'S', subjects: ['s.>'] }), {
      name: 'S',
      subjects: ['s.>'],
      retention: 'limits',
      maxAgeMs: 0,
      duplicateWindowMs: DEFAULT_DUPLICATE_WINDOW_MS,
      storage: 'file',
      replicas: 1,
    });
  });

  const badStreams: [string, Parameters<typeof resolveStreamConfig>[0], RegExp][] = [
    ['no subject', { name: 'S', subjects: [] }, /at least one subject/],
    ['a dotted name', { name: 'S.x', subjects: ['s'] }, /stream name/],
    ['overlapping subjects', { name: 'S', subjects: ['s.*', 's.a'] }, /overlapping/],
    ['a negative age', { name: 'S', subjects: ['s'], maxAgeMs: -1 }, /maxAgeMs/],
    [
      'a window past the age',
      { name: 'S', subjects: ['s'], maxAgeMs: 1_000, duplicateWindowMs: 2_000 },
      /duplicateWindowMs/,
    ],
  ];
  for (const [what, config, message] of badStreams) {
    it(`refuses a stream with ${what}`, () => {
      assert.throws(
        () => resolveStreamConfig(config),
        (err: unknown) => err instanceof BusConfigError && message.test(err.message),
      );
    });
  }

  it('changes subjects and limits of a stream in place, and refuses to change its retention', () => {
    const observed = resolveStreamConfig({ name: 'S', subjects: ['a', 'b'] });
    assert.deepEqual(streamChanges(resolveStreamConfig({ name: 'S', subjects: ['b', 'a'] }), observed), []);
    assert.deepEqual(
      streamChanges(resolveStreamConfig({ name: 'S', subjects: ['a'], maxAgeMs: 60_000 }), observed),
      ['subjects', 'maxAgeMs', 'duplicateWindowMs'],
    );
    assert.throws(
      () =>
        streamChanges(
          resolveStreamConfig({ name: 'S', subjects: ['a', 'b'], retention: 'workqueue' }),
          observed,
        ),
      /retention limits, not workqueue/,
    );
  });

  it('fills in consumer defaults', () => {
    assert.deepEqual(resolveConsumerConfig({ stream: 'S', name: 'c' }), {
      stream: 'S',
      name: 'c',
      filterSubject: undefined,
      ackWaitMs: DEFAULT_ACK_WAIT_MS,
      maxDeliver: undefined,
      backoffMs: [],
      maxAckPending: DEFAULT_MAX_ACK_PENDING,
      deliverPolicy: 'all',
      description: '',
    });
  });

  it('takes the first backoff step as the ack wait, as JetStream does', () => {
    const config = resolveConsumerConfig({
      stream: 'S',
      name: 'c',
      ackWaitMs: 30_000,
      maxDeliver: 3,
      backoffMs: [500, 2_000],
    });
    assert.equal(config.ackWaitMs, 500);
  });

  const badConsumers: [string, ConsumerConfig, RegExp][] = [
    [
      'backoff without maxDeliver',
      { stream: 'S', name: 'c', backoffMs: [100] },
      /greater than the number of backoff steps/,
    ],
    [
      'as many steps as deliveries',
      { stream: 'S', name: 'c', backoffMs: [100, 200], maxDeliver: 2 },
      /greater than/,
    ],
    ['a zero step', { stream: 'S', name: 'c', backoffMs: [0], maxDeliver: 3 }, /backoffMs/],
    ['maxDeliver 0', { stream: 'S', name: 'c', maxDeliver: 0 }, /maxDeliver/],
    ['a fractional ack wait', { stream: 'S', name: 'c', ackWaitMs: 1.5 }, /ackWaitMs/],
    ['maxAckPending 0', { stream: 'S', name: 'c', maxAckPending: 0 }, /maxAckPending/],
    ['a wildcard in the name', { stream: 'S', name: 'c*' }, /consumer name/],
    ['a bad filter', { stream: 'S', name: 'c', filterSubject: 'a..b' }, /filterSubject/],
  ];
  for (const [what, config, message] of badConsumers) {
    it(`refuses a consumer with ${what}`, () => {
      assert.throws(
        () => resolveConsumerConfig(config),
        (err: unknown) => err instanceof BusConfigError && message.test(err.message),
      );
    });
  }

  it('lists the consumer fields that differ, ignoring where it started', () => {
    const observed = resolveConsumerConfig({ stream: 'S', name: 'c', maxDeliver: 3, backoffMs: [100] });
    const same = resolveConsumerConfig({
      stream: 'S',
      name: 'c',
      maxDeliver: 3,
      backoffMs: [100],
      deliverPolicy: 'new',
    });
    assert.deepEqual(consumerChanges(same, observed), []);
    const changed = resolveConsumerConfig({
      stream: 'S',
      name: 'c',
      maxDeliver: 5,
      backoffMs: [100, 200],
      filterSubject: 'x',
      maxAckPending: 7,
    });
    assert.deepEqual(consumerChanges(changed, observed), [
      'filterSubject',
      'maxDeliver',
      'maxAckPending',
      'backoffMs',
    ]);
  });

  const delays: [number[], number, number][] = [
    [[], 1, 0],
    [[], 7, 0],
    [[1_000, 10_000, 60_000], 1, 1_000],
    [[1_000, 10_000, 60_000], 2, 10_000],
    [[1_000, 10_000, 60_000], 3, 60_000],
    [[1_000, 10_000, 60_000], 9, 60_000],
  ];
  for (const [backoff, count, expected] of delays) {
    it(`waits ${expected} ms after delivery ${count} fails with backoff [${backoff.join(', ')}]`, () => {
      assert.equal(retryDelay(backoff, count), expected);
    });
  }

  const reconnects: [number, number, number][] = [
    [0, 0, 50],
    [0, 1, 100],
    [3, 1, 800],
    [10, 1, 5_000],
    [10, 0, 2_500],
  ];
  for (const [attempt, random, expected] of reconnects) {
    it(`waits ${expected} ms before reconnect attempt ${attempt} (random ${random}), from 100 to 5000`, () => {
      assert.equal(reconnectDelay(attempt, 100, 5_000, random), expected);
    });
  }
});
