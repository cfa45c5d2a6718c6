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
});
