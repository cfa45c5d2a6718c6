import { strict as assert } from 'node:assert';
import {
  BusConfigError,
  CALLS_CONSUMER,
  CALLS_STREAM,
  EVENTS_STREAM,
  callSubject,
  callsConsumerConfig,
  callsStreamConfig,
  deadLetterStreamConfig,
  deadLetterSubject,
  eventsStreamConfig,
  isReservedSubject,
  minimalSubjects,
  resolveConsumerConfig,
  resolveStreamConfig,
  subjectMatches,
  triggerConsumerConfig,
  triggerConsumerName,
  triggerConsumerPrefix,
} from '../src/index.js';

describe('topology', () => {
  it('names call and dead-letter subjects by namespace and function, inside their streams', () => {
    assert.equal(callSubject('default', 'hello'), 'nimbus.calls.default.hello');
    assert.equal(deadLetterSubject('team-a', 'resize'), 'nimbus.dlq.team-a.resize');
    const calls = resolveStreamConfig(callsStreamConfig());
    assert.equal(calls.name, CALLS_STREAM);
    assert.equal(calls.retention, 'workqueue');
    assert.ok(calls.subjects.some((s) => subjectMatches(s, callSubject('default', 'hello'))));
    const dlq = resolveStreamConfig(deadLetterStreamConfig());
    assert.ok(dlq.subjects.some((s) => subjectMatches(s, deadLetterSubject('team-a', 'resize'))));
  });

  for (const [namespace, fn] of [
    ['default', 'has.dot'],
    ['default', 'Upper'],
    ['', 'fn'],
    ['ns', 'a*'],
  ] as const) {
    it(`refuses "${namespace}"/"${fn}" as subject tokens`, () => {
      assert.throws(() => callSubject(namespace, fn), BusConfigError);
    });
  }

  it('gives one durable to all gateway replicas for calls', () => {
    const config = resolveConsumerConfig(callsConsumerConfig({ maxAckPending: 64 }));
    assert.equal(config.stream, CALLS_STREAM);
    assert.equal(config.name, CALLS_CONSUMER);
    assert.equal(config.maxAckPending, 64);
  });

  it('names a durable per function and subject: stable, distinct, under the function’s prefix', () => {
    const a = triggerConsumerName('default', 'fn', 'orders.created');
    assert.equal(a, triggerConsumerName('default', 'fn', 'orders.created'));
    assert.notEqual(a, triggerConsumerName('default', 'fn', 'orders.deleted'));
    assert.notEqual(a, triggerConsumerName('default', 'other', 'orders.created'));
    assert.ok(a.startsWith(triggerConsumerPrefix('default', 'fn')));
    assert.ok(
      !triggerConsumerName('default', 'fn-x', 'o').startsWith(triggerConsumerPrefix('default', 'fn')),
    );
    assert.match(a, /^trigger_default_fn_[0-9a-f]{12}$/);
  });

  it('makes a trigger durable that filters its subject and starts at new messages', () => {
    const config = resolveConsumerConfig(
      triggerConsumerConfig({
        namespace: 'default',
        function: 'fn',
        subject: 'orders.*',
        maxDeliver: 5,
        backoffMs: [1_000, 10_000, 60_000],
      }),
    );
    assert.equal(config.stream, EVENTS_STREAM);
    assert.equal(config.filterSubject, 'orders.*');
    assert.equal(config.deliverPolicy, 'new');
    assert.equal(config.maxDeliver, 5);
    assert.deepEqual(config.backoffMs, [1_000, 10_000, 60_000]);
  });

  const minimal: [string[], string[]][] = [
    [[], []],
    [['a.b', 'a.b'], ['a.b']],
    [['a.b', 'a.*'], ['a.*']],
    [
      ['a.b.c', 'a.>', 'x.y'],
      ['a.>', 'x.y'],
    ],
    [
      ['a.*', '*.b'],
      ['*.b', 'a.*'],
    ],
  ];
  for (const [given, expected] of minimal) {
    it(`folds [${given.join(', ')}] to [${expected.join(', ')}]`, () => {
      assert.deepEqual(minimalSubjects(given), expected);
    });
  }

  it('builds the events stream over the triggers’ subjects, or none without a trigger', () => {
    assert.equal(eventsStreamConfig([]), undefined);
    const config = eventsStreamConfig(['orders.created', 'orders.*', 'users.>']);
    assert.deepEqual(config?.subjects, ['orders.*', 'users.>']);
    assert.equal(config?.retention, 'interest');
  });

  for (const subject of ['nimbus.calls.default.fn', 'nimbus.>', '$JS.API.INFO', '_INBOX.x', '>']) {
    it(`refuses the reserved trigger subject "${subject}"`, () => {
      assert.equal(isReservedSubject(subject), true);
      assert.throws(() => eventsStreamConfig([subject]), BusConfigError);
    });
  }

  it('lets users’ subjects through', () => {
    assert.equal(isReservedSubject('orders.created'), false);
    assert.equal(isReservedSubject('nimbusx.orders'), false);
  });
});
