import assert from 'node:assert/strict';
import type { ResolvedSource } from '@nimbus/api';
import { Registry } from 'prom-client';
import { SourceHealthBoard, healthError } from '../src/sources/source-health.js';

describe('source health', () => {
  it('an error keeps no login of any URL in it, on one line', () => {
    const cases: [string, string][] = [
      [
        'connect to postgres://app:s3cret@db:5432/shop failed',
        'connect to postgres://***@db:5432/shop failed',
      ],
      ['amqp://guest:p@ss@host/vh and\nmqtt://u:pw@h:1883', 'amqp://***@host/vh and mqtt://***@h:1883'],
      ['mqtts://token@broker:8883 refused', 'mqtts://***@broker:8883 refused'],
      ['connect ECONNREFUSED 127.0.0.1:1883', 'connect ECONNREFUSED 127.0.0.1:1883'],
      ['http://host/path?to=a@b', 'http://host/path?to=a@b'],
    ];
    for (const [text, want] of cases) assert.equal(healthError(text), want, text);
    assert.equal(healthError(`x${'y'.repeat(10_000)}`).length, 500);
  });

  it('the board keeps what a reader reports, redacted, and counts events with their time', () => {
    let now = 1_000;
    const board = new SourceHealthBoard(new Registry(), () => now);
    const source = { namespace: 'default', function: 'f', name: 't', kind: 'mqtt' } as ResolvedSource;
    board.report(source, { connected: false, lastError: 'mqtt://user:hunter2@127.0.0.1:1 refused' });
    assert.deepEqual(board.of('default/f/t'), {
      kind: 'mqtt',
      connected: false,
      lastError: 'mqtt://***@127.0.0.1:1 refused',
      events: 0,
      since: 1_000,
    });
    now = 2_000;
    board.report(source, { connected: true });
    board.count(source, 'stored');
    assert.deepEqual(board.of('default/f/t'), {
      kind: 'mqtt',
      connected: true,
      events: 1,
      lastEventAt: 2_000,
      since: 2_000,
    });
    board.forget(source);
    assert.equal(board.of('default/f/t'), undefined);
  });

  it('exports what it kept as metrics when scraped: gauges while the trigger runs here, counts for good', async () => {
    const registry = new Registry();
    const board = new SourceHealthBoard(registry, () => 1_000);
    const source = { namespace: 'shop', function: 'f', name: 'db', kind: 'postgres' } as ResolvedSource;
    board.report(source, { connected: true, backlog: 4096 });
    for (let i = 0; i < 3; i++) board.count(source, 'stored');
    board.count(source, 'store-failed');
    const series = async () =>
      (await registry.metrics()).split('\n').filter((l) => l.startsWith('nimbus_source_'));
    const labels = 'namespace="shop",function="f",trigger="db",kind="postgres"';
    assert.deepEqual((await series()).sort(), [
      `nimbus_source_backlog{${labels}} 4096`,
      `nimbus_source_connected{${labels}} 1`,
      `nimbus_source_events_total{${labels},result="store-failed"} 1`,
      `nimbus_source_events_total{${labels},result="stored"} 3`,
    ]);
    assert.equal(board.of('shop/f/db')?.events, 3, 'a failed store is not an event handed on');
    board.report(source, { connected: false, lastError: 'gone' });
    board.count(source, 'stored');
    assert.deepEqual((await series()).sort(), [
      `nimbus_source_connected{${labels}} 0`,
      `nimbus_source_events_total{${labels},result="store-failed"} 1`,
      `nimbus_source_events_total{${labels},result="stored"} 4`,
    ]);
    board.forget(source);
    assert.deepEqual((await series()).sort(), [
      `nimbus_source_events_total{${labels},result="store-failed"} 1`,
      `nimbus_source_events_total{${labels},result="stored"} 4`,
    ]);
  });

  it('counts a trigger whose kind changed under the new kind, and keeps the old count', async () => {
    const registry = new Registry();
    const board = new SourceHealthBoard(registry, () => 1_000);
    const source = { namespace: 'shop', function: 'f', name: 'in', kind: 'mqtt' } as ResolvedSource;
    board.count(source, 'stored');
    board.count({ ...source, kind: 'rabbitmq' } as ResolvedSource, 'delivered');
    const counted = (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('nimbus_source_events_total{'))
      .sort();
    assert.deepEqual(counted, [
      'nimbus_source_events_total{namespace="shop",function="f",trigger="in",kind="mqtt",result="stored"} 1',
      'nimbus_source_events_total{namespace="shop",function="f",trigger="in",kind="rabbitmq",result="delivered"} 1',
    ]);
  });

  it('hands out copies: what a reader holds does not change under it', () => {
    let now = 1_000;
    const board = new SourceHealthBoard(new Registry(), () => now);
    const source = { namespace: 'default', function: 'f', name: 't', kind: 'mqtt' } as ResolvedSource;
    board.count(source, 'stored');
    const held = board.of('default/f/t');
    const all = board.snapshot();
    now = 5_000;
    board.count(source, 'delivered');
    assert.deepEqual(held, { kind: 'mqtt', connected: true, events: 1, lastEventAt: 1_000, since: 1_000 });
    assert.equal(all['default/f/t']?.events, 1);
    assert.equal(board.of('default/f/t')?.events, 2);
  });
});
