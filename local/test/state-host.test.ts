import assert from 'node:assert/strict';
import { MemoryStateStore } from '@nimbus/store';
import { StateHost } from '../src/process/state-host.js';

describe('the supervisor state host (local mode without Redis)', () => {
  const counter = { namespace: 'team', name: 'counter' };
  const other = { namespace: 'team', name: 'other' };
  let store: MemoryStateStore;
  let host: StateHost;

  beforeEach(() => {
    store = new MemoryStateStore(undefined, { maxValueBytes: 16 });
    host = new StateHost(store);
  });

  const ask = (message: Record<string, unknown>, scope: typeof counter | undefined = counter) =>
    host.handle(scope, { type: 'state', id: 7, ...message });

  it('runs each operation on the key space of the scope it is given, answering with the same id', async () => {
    const set = await ask({ op: 'set', key: 'k', value: { a: 1 }, ttlMs: 5000 });
    assert.ok(set?.ok);
    assert.equal(set.id, 7);
    assert.deepEqual(await ask({ op: 'get', key: 'k' }), {
      type: 'state-result',
      id: 7,
      ok: true,
      result: { value: { a: 1 }, version: set.result },
    });
    assert.ok((store.remainingTtl('team', 'counter', 'k') ?? 0) > 4000);
    assert.deepEqual((await ask({ op: 'incr', key: 'n', by: 2 }))?.ok && 'incremented', 'incremented');
    assert.deepEqual(
      (await ask({ op: 'compareAndSet', key: 'k', expectedVersion: null, value: 1 })) as unknown,
      { type: 'state-result', id: 7, ok: true, result: { ok: false, currentVersion: set.result } },
    );
    assert.deepEqual(await ask({ op: 'delete', key: 'k' }), {
      type: 'state-result',
      id: 7,
      ok: true,
      result: true,
    });
  });

  it('keeps functions apart: a replica reaches only its own function, whatever the message names', async () => {
    await ask({ op: 'set', key: 'secret', value: 'mine', namespace: 'team', name: 'other' });
    assert.deepEqual((await store.scoped('team', 'counter').get('secret'))?.value, 'mine');
    assert.equal(await store.scoped('team', 'other').get('secret'), undefined);
    const fromOther = await host.handle(other, { type: 'state', id: 1, op: 'get', key: 'secret' });
    assert.deepEqual(fromOther, { type: 'state-result', id: 1, ok: true, result: undefined });
  });

  it("answers the store's refusals by name, with the limit", async () => {
    assert.deepEqual(await ask({ op: 'set', key: 'big', value: 'x'.repeat(20) }), {
      type: 'state-result',
      id: 7,
      ok: false,
      error: {
        name: 'StateValueTooLargeError',
        message: 'state key "big": the value is 22 bytes as JSON, over the limit of 16 bytes',
        limit: 16,
      },
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ op: 'get', key: '' }, 'InvalidStateKeyError'],
      [{ op: 'get' }, 'InvalidStateKeyError'],
      [{ op: 'set', key: 'k' }, 'InvalidStateValueError'],
      [{ op: 'set', key: 'k', value: 1, ttlMs: -1 }, 'InvalidStateValueError'],
      [{ op: 'incr', key: 'k', by: 'one' }, 'InvalidStateValueError'],
      [{ op: 'compareAndSet', key: 'k', expectedVersion: 3, value: 1 }, 'InvalidStateValueError'],
      [{ op: 'flushall', key: 'k' }, 'InvalidStateValueError'],
    ];
    for (const [message, name] of cases) {
      const reply = await ask(message);
      assert.ok(reply !== undefined && !reply.ok, JSON.stringify(message));
      assert.equal(reply.error.name, name, JSON.stringify(message));
    }
  });

  it('says state is not enabled to a replica of a function without state', async () => {
    const reply = await host.handle(undefined, { type: 'state', id: 3, op: 'get', key: 'k' });
    assert.ok(reply !== undefined && !reply.ok);
    assert.equal(reply.error.name, 'StateNotEnabledError');
    assert.match(reply.error.message, /spec\.state\.enabled: true/);
  });

  it('ignores what is not a state request with an id', async () => {
    for (const message of [
      null,
      'state',
      { type: 'ready' },
      { type: 'state', op: 'get', key: 'k' },
      { type: 'state', id: 1.5 },
    ])
      assert.equal(await host.handle(counter, message), undefined);
  });
});
