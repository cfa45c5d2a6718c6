import assert from 'node:assert/strict';
import { type FunctionResource, validateFunction } from '@nimbus/api';
import { EVENTS_STREAM, triggerConsumerName } from '../src/index.js';
import { eventsStream, natsTriggers, triggerConsumers } from '../src/trigger-topology.js';

function fn(name: string, triggers: unknown[], deleting = false): FunctionResource {
  const result = validateFunction({
    apiVersion: 'nimbus.dev/v1alpha1',
    kind: 'Function',
    metadata: { name, namespace: 'shop', ...(deleting ? { deletionTimestamp: '2026-11-24T00:00:00Z' } : {}) },
    spec: { source: { inline: 'export default () => 1' }, triggers },
  });
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

describe('trigger topology: what JetStream should hold for the Functions’ NATS triggers', () => {
  it('one durable per subject, with maxDeliver and the backoff in ms, from new messages on', () => {
    const [consumer, ...rest] = triggerConsumers(
      fn('orders', [{ nats: { subject: 'orders.created', maxDeliver: 4, backoff: ['1s', '30s'] } }]),
    );
    assert.deepEqual(rest, []);
    assert.equal(consumer?.stream, EVENTS_STREAM);
    assert.equal(consumer?.name, triggerConsumerName('shop', 'orders', 'orders.created'));
    assert.equal(consumer?.filterSubject, 'orders.created');
    assert.equal(consumer?.maxDeliver, 4);
    assert.deepEqual(consumer?.backoffMs, [1000, 30_000]);
    assert.equal(consumer?.deliverPolicy, 'new');
  });

  it('defaults maxDeliver to 5; cuts a backoff list past the last delivery; ignores schedules and repeats', () => {
    const { triggers } = natsTriggers(
      fn('x', [
        { nats: { subject: 'a.b' } },
        { nats: { subject: 'c', maxDeliver: 2, backoff: ['1s', '2s', '3s'] } },
        { nats: { subject: 'a.b', maxDeliver: 9 } },
        { schedule: { cron: '*/5 * * * *' } },
      ]),
    );
    assert.deepEqual(triggers, [
      { subject: 'a.b', maxDeliver: 5, backoffMs: [] },
      { subject: 'c', maxDeliver: 2, backoffMs: [1000] },
    ]);
  });

  it('refuses a subject Nimbus or NATS keeps, naming it, and makes no consumer for it', () => {
    const f = fn('sneaky', [
      { nats: { subject: 'nimbus.calls.shop.orders' } },
      { nats: { subject: '_INBOX.abc' } },
    ]);
    const { triggers, refused } = natsTriggers(f);
    assert.deepEqual(triggers, []);
    assert.deepEqual(
      refused.map((r) => r.subject),
      ['nimbus.calls.shop.orders', '_INBOX.abc'],
    );
    assert.match(refused[0]?.reason ?? '', /reserved/);
    assert.deepEqual(triggerConsumers(f), []);
  });

  it('the events stream takes every servable subject once (a wildcard covers its matches), and none of a Function being deleted', () => {
    const stream = eventsStream([
      fn('a', [{ nats: { subject: 'orders.*' } }]),
      fn('b', [{ nats: { subject: 'orders.created' } }, { nats: { subject: 'audit' } }]),
      fn('c', [{ nats: { subject: 'leaving' } }], true),
      fn('d', [{ nats: { subject: 'nimbus.x' } }]),
    ]);
    assert.equal(stream?.name, EVENTS_STREAM);
    assert.deepEqual(stream?.subjects, ['audit', 'orders.*']);
    assert.equal(stream?.retention, 'interest');
    assert.equal(eventsStream([fn('e', [])]), undefined, 'no trigger, no stream');
  });
});
