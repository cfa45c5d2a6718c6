import assert from 'node:assert/strict';
import { changedFunctions, combinedHealth, parseSourceHealth } from '../src/sources/source-reports.js';
import { type TriggerProvisioning, triggerStatuses } from '../src/sources/trigger-status.js';

const provisioned = (name: string, ok = true): TriggerProvisioning => ({
  name,
  kind: 'postgres',
  ok,
  reason: ok ? 'Provisioned' : 'TriggerSecretNotOptedIn',
  message: ok
    ? `postgres trigger ${name} is set up`
    : `spec.triggers[${name}].postgres: Secret x does not opt in`,
});

describe("event-source triggers' status: set up on the origin, then what the gateways report", () => {
  it('ready once set up; connected and its backlog once a gateway reports', () => {
    const { verdict, triggers } = triggerStatuses([provisioned('db')], () => ({
      connected: true,
      backlog: 7,
      lastEventAt: Date.UTC(2026, 11, 7, 8, 0, 0, 123),
    }));
    assert.deepEqual(verdict, {
      status: 'True',
      reason: 'TriggersReady',
      message: '1 event-source trigger is set up',
    });
    assert.equal(triggers[0]?.reason, 'Connected');
    assert.equal(triggers[0]?.backlog, 7);
    assert.equal(triggers[0]?.lastEventTime, '2026-12-07T08:00:00Z');
  });

  it('not ready when provisioning failed (the field named), or a reader is disconnected (its error)', () => {
    const failed = triggerStatuses([provisioned('a', false), provisioned('b')], (t) =>
      t === 'b' ? { connected: false, lastError: 'connection refused' } : undefined,
    );
    assert.equal(failed.verdict.status, 'False');
    assert.equal(failed.verdict.reason, 'TriggerSecretNotOptedIn');
    assert.match(
      failed.verdict.message,
      /spec\.triggers\[a\]\.postgres: Secret x does not opt in; .*b is not connected: connection refused/,
    );
    assert.deepEqual(
      failed.triggers.map((t) => [t.name, t.ready, t.reason]),
      [
        ['a', false, 'TriggerSecretNotOptedIn'],
        ['b', false, 'Disconnected'],
      ],
    );
  });

  it('without a report, set up is all it says', () => {
    const { triggers } = triggerStatuses([provisioned('db')], () => undefined);
    assert.equal(triggers[0]?.ready, true);
    assert.equal(triggers[0]?.connected, undefined);
    assert.match(triggers[0]?.message ?? '', /no gateway has reported on its reader yet/);
  });
});

describe("gateways' reports of their source triggers", () => {
  it('parses what a gateway sends and refuses what it should not', () => {
    assert.deepEqual(parseSourceHealth({ 'shop/orders/db': { connected: true, backlog: 3 } }), {
      'shop/orders/db': { connected: true, backlog: 3 },
    });
    assert.deepEqual(parseSourceHealth(undefined), {});
    for (const bad of [
      [],
      { '../x': { connected: true } },
      { 'shop/orders/db': { connected: 'yes' } },
      { 'shop/orders/db': { connected: true, backlog: -1 } },
      { 'shop/orders/db': { connected: true, lastError: 5 } },
    ])
      assert.throws(() => parseSourceHealth(bad), TypeError, JSON.stringify(bad));
    const long = parseSourceHealth({ 'shop/orders/db': { connected: false, lastError: 'x'.repeat(5000) } });
    assert.equal(long['shop/orders/db']?.lastError?.length, 500);
  });

  it('combines gateways: connected if any reader is, the largest backlog, the error only when none is', () => {
    assert.deepEqual(
      combinedHealth([
        { connected: false, lastError: 'refused', backlog: 4 },
        { connected: true, backlog: 9, lastEventAt: 5 },
      ]),
      { connected: true, backlog: 9, lastEventAt: 5 },
    );
    assert.deepEqual(combinedHealth([{ connected: false, lastError: 'refused' }]), {
      connected: false,
      lastError: 'refused',
    });
    assert.equal(combinedHealth([]), undefined);
  });

  it('names the Functions whose triggers went up, down or failed differently, and only those', () => {
    const before = new Map([
      ['shop/a/db', { connected: true }],
      ['shop/b/q', { connected: false, lastError: 'x' }],
      ['shop/c/m', { connected: true, backlog: 1 }],
    ]);
    const after = new Map([
      ['shop/a/db', { connected: false, lastError: 'down' }],
      ['shop/b/q', { connected: false, lastError: 'y' }],
      ['shop/c/m', { connected: true, backlog: 500 }],
    ]);
    assert.deepEqual(
      changedFunctions(
        (k) => before.get(k),
        (k) => after.get(k),
        before.keys(),
      ).sort(),
      ['shop/a', 'shop/b'],
    );
  });
});
