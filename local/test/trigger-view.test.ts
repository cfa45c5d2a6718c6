import assert from 'node:assert/strict';
import type { FunctionResource } from '@nimbus/api';
import type { SourceHealthReport } from '@nimbus/gateway';
import { triggerView } from '../src/trigger-view.js';

const fn = (triggers: object[]): Pick<FunctionResource, 'metadata' | 'spec'> =>
  ({
    metadata: { namespace: 'default', name: 'sensors' },
    spec: { triggers },
  }) as unknown as Pick<FunctionResource, 'metadata' | 'spec'>;

const mqtt = { name: 'telemetry', mqtt: { connection: { name: 'broker', key: 'url' }, topics: ['a/#'] } };
const hook = { name: 'hook', webhook: { secret: { name: 'hook', key: 'secret' } } };
const report = (over: Partial<SourceHealthReport>): SourceHealthReport => ({
  kind: 'mqtt',
  connected: true,
  events: 0,
  since: 0,
  ...over,
});

describe('triggerView: local mode status of source triggers', () => {
  it('a Function without source triggers has none', () => {
    assert.equal(
      triggerView(fn([{ nats: { subject: 'x' } }]), () => undefined),
      undefined,
    );
  });

  const cases: [
    string,
    Record<string, SourceHealthReport>,
    { ready: boolean; reason: string; connected?: boolean; lastError?: string; lastEventTime?: string },
    'True' | 'False',
  ][] = [
    ['not started yet', {}, { ready: false, reason: 'TriggerStarting' }, 'False'],
    [
      'its server down',
      { 'default/sensors/telemetry': report({ connected: false, lastError: 'connect ECONNREFUSED' }) },
      { ready: false, reason: 'Disconnected', connected: false, lastError: 'connect ECONNREFUSED' },
      'False',
    ],
    [
      'its configuration refused: the reason and words of a cluster, no reader health',
      {
        'default/sensors/telemetry': report({
          connected: false,
          lastError: 'spec.triggers[telemetry]: mqtt://h:1883: Not authorized',
          setup: {
            reason: 'TriggerMisconfigured',
            message: 'spec.triggers[telemetry]: mqtt://h:1883: Not authorized',
          },
        }),
      },
      { ready: false, reason: 'TriggerMisconfigured' },
      'False',
    ],
    [
      'connected, an event handed on',
      { 'default/sensors/telemetry': report({ lastEventAt: Date.UTC(2026, 11, 7, 10, 0, 0, 250) }) },
      { ready: true, reason: 'Connected', connected: true, lastEventTime: '2026-12-07T10:00:00Z' },
      'True',
    ],
  ];
  for (const [name, board, want, condition] of cases) {
    it(name, () => {
      const view = triggerView(fn([mqtt]), (key) => board[key]);
      const [status] = view?.triggers ?? [];
      assert.equal(status?.name, 'telemetry');
      assert.equal(status?.kind, 'mqtt');
      assert.deepEqual(
        {
          ready: status?.ready,
          reason: status?.reason,
          ...(status?.connected === undefined ? {} : { connected: status.connected }),
          ...(status?.lastError === undefined ? {} : { lastError: status.lastError }),
          ...(status?.lastEventTime === undefined ? {} : { lastEventTime: status.lastEventTime }),
        },
        want,
      );
      assert.equal(view?.condition.type, 'TriggersReady');
      assert.equal(view?.condition.status, condition);
      const setup = board['default/sensors/telemetry']?.setup;
      if (setup !== undefined) {
        assert.equal(status?.message, setup.message);
        assert.equal(view?.condition.reason, setup.reason);
      }
    });
  }

  it('one trigger down makes TriggersReady false and names it; the other stays ready', () => {
    const board: Record<string, SourceHealthReport> = {
      'default/sensors/telemetry': report({ connected: false, lastError: 'Not authorized' }),
      'default/sensors/hook': report({ kind: 'webhook', backlog: 3 }),
    };
    const view = triggerView(fn([mqtt, hook]), (key) => board[key]);
    assert.deepEqual(
      view?.triggers.map((t) => [t.name, t.ready, t.backlog]),
      [
        ['telemetry', false, undefined],
        ['hook', true, 3],
      ],
    );
    assert.equal(view?.condition.status, 'False');
    assert.match(String(view?.condition.message), /mqtt trigger telemetry is not connected: Not authorized/);
  });
});
