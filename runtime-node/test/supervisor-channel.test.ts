import assert from 'node:assert/strict';
import { invocationIdFor } from '../src/invoke/invocation-id.js';
import { ipcSupervisorChannel } from '../src/supervisor-channel.js';

describe('ipcSupervisorChannel', () => {
  it('sends messages when the channel is connected', () => {
    const sent: unknown[] = [];
    const channel = ipcSupervisorChannel({
      connected: true,
      send: (message) => {
        sent.push(message);
        return true;
      },
    });
    channel.send({ type: 'listening', port: 1234 });
    assert.deepEqual(sent, [{ type: 'listening', port: 1234 }]);
  });

  it('does nothing without a channel or after it closed, and never throws', () => {
    let calls = 0;
    ipcSupervisorChannel({}).send({ type: 'ready' });
    ipcSupervisorChannel({
      connected: false,
      send: () => {
        calls++;
        return true;
      },
    }).send({ type: 'ready' });
    ipcSupervisorChannel({
      connected: true,
      send: () => {
        calls++;
        throw new Error('ERR_IPC_CHANNEL_CLOSED');
      },
    }).send({ type: 'load-failed', reason: 'x' });
    assert.equal(calls, 1);
  });
});

describe('invocationIdFor', () => {
  const generate = () => 'generated';
  const cases: [string, string | string[] | undefined, string][] = [
    ['a sane id', 'abc-123_x.y', 'abc-123_x.y'],
    ['128 characters', 'a'.repeat(128), 'a'.repeat(128)],
    ['129 characters', 'a'.repeat(129), 'generated'],
    ['a space', 'a b', 'generated'],
    ['a slash', 'a/b', 'generated'],
    ['an empty header', '', 'generated'],
    ['no header', undefined, 'generated'],
  ];
  for (const [name, header, expected] of cases) {
    it(`uses ${expected === 'generated' ? 'a generated id' : "the caller's id"} for ${name}`, () => {
      const headers = header === undefined ? {} : { 'x-call-id': header as string };
      assert.equal(invocationIdFor(headers, generate), expected);
    });
  }
});
