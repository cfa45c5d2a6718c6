import assert from 'node:assert/strict';
import {
  MemoryStateStore,
  StoreCommandError,
  StateUnavailableError as StoreStateUnavailableError,
} from '@nimbus/store';
import { ManualClock } from '@nimbus/testkit';
import type { FunctionState } from '../src/contract.js';
import { errorResponse } from '../src/http/http-errors.js';
import { DisabledFunctionState, PortFunctionState, type StatePort } from '../src/state/function-state.js';
import {
  InvalidStateKeyError,
  InvalidStateValueError,
  StateError,
  StateNotAnIntegerError,
  StateNotEnabledError,
  StateRefusedError,
  StateUnavailableError,
  StateValueTooLargeError,
  toStateError,
} from '../src/state/state-errors.js';

/** ctx.state on the store's in-memory adapter: the same checks as Redis, no server. */
function memoryState(maxValueBytes = 64) {
  const clock = new ManualClock(1_000_000);
  const store = new MemoryStateStore(clock, { maxValueBytes });
  const port: StatePort = Object.assign(store.scoped('team', 'counter'), { close: async () => {} });
  return { state: new PortFunctionState(port), store, clock };
}

/** A port whose every call fails with `error`. */
function failingPort(error: unknown): StatePort {
  const fail = () => Promise.reject(error);
  return { get: fail, set: fail, delete: fail, incr: fail, compareAndSet: fail, close: async () => {} };
}

/** What the handler's caller sees when `error` escapes the handler. */
function answer(error: unknown) {
  return errorResponse(error, 'call-1', false);
}

async function rejection(promise: Promise<unknown>): Promise<StateError> {
  return promise.then(
    (value) => assert.fail(`resolved with ${JSON.stringify(value)}`),
    (error: unknown) => {
      assert.ok(error instanceof StateError, `a StateError, got ${String(error)}`);
      return error;
    },
  );
}

describe('ctx.state on a store port', () => {
  it('gets, sets, deletes and increments, with undefined for a key that is absent', async () => {
    const { state } = memoryState();
    assert.equal(await state.get('greeting'), undefined);
    const version = await state.set('greeting', { text: 'hi', n: [1, null, true] });
    assert.equal(typeof version, 'string');
    assert.deepEqual(await state.get('greeting'), { text: 'hi', n: [1, null, true] });
    assert.deepEqual(await state.getWithVersion('greeting'), {
      value: { text: 'hi', n: [1, null, true] },
      version,
    });
    assert.equal(await state.delete('greeting'), true);
    assert.equal(await state.delete('greeting'), false);
    assert.equal(await state.incr('hits'), 1);
    assert.equal(await state.incr('hits', 41), 42);
    assert.equal(await state.incr('hits', -2), 40);
    assert.equal(await state.get('hits'), 40);
  });

  it('compares and sets by version: absent, current, stale', async () => {
    const { state } = memoryState();
    assert.equal(await state.compareAndSet('doc', null, { rev: 1 }), true);
    assert.equal(await state.compareAndSet('doc', null, { rev: 'again' }), false, 'only if absent');
    const first = await state.getWithVersion('doc');
    assert.ok(first);
    assert.equal(await state.compareAndSet('doc', first.version, { rev: 2 }), true);
    assert.equal(await state.compareAndSet('doc', first.version, { rev: 'stale' }), false);
    assert.deepEqual(await state.get('doc'), { rev: 2 });
  });

  it('turns ttlSeconds into the store expiry, and a write without it clears the expiry', async () => {
    const { state, store, clock } = memoryState();
    await state.set('session', 'abc', { ttlSeconds: 1.5 });
    assert.equal(store.remainingTtl('team', 'counter', 'session'), 1500);
    clock.advance(1499);
    assert.equal(await state.get('session'), 'abc');
    clock.advance(1);
    assert.equal(await state.get('session'), undefined, 'expired');
    await state.compareAndSet('session', null, 'x', { ttlSeconds: 0.001 });
    assert.equal(store.remainingTtl('team', 'counter', 'session'), 1);
    await state.set('session', 'y');
    assert.equal(store.remainingTtl('team', 'counter', 'session'), undefined);
  });

  const refusals: [
    string,
    (state: FunctionState) => Promise<unknown>,
    new (...args: never[]) => StateError,
    number,
    RegExp,
  ][] = [
    [
      'a value over the limit',
      (s) => s.set('big', 'x'.repeat(100)),
      StateValueTooLargeError,
      413,
      /102 bytes as JSON, over the limit of 64 bytes/,
    ],
    [
      'a value over the limit in compareAndSet',
      (s) => s.compareAndSet('big', null, 'x'.repeat(100)),
      StateValueTooLargeError,
      413,
      /over the limit of 64 bytes/,
    ],
    ['an empty key', (s) => s.get(''), InvalidStateKeyError, 400, /must not be empty/],
    [
      'a key with a control character',
      (s) => s.delete('a\nb'),
      InvalidStateKeyError,
      400,
      /control characters/,
    ],
    [
      'a key that is not a string',
      (s) => s.get(42 as unknown as string),
      InvalidStateKeyError,
      400,
      /must be a string/,
    ],
    ['a Date', (s) => s.set('when', new Date(0)), InvalidStateValueError, 400, /plain JSON: \$ is a Date/],
    ['undefined', (s) => s.set('nothing', undefined), InvalidStateValueError, 400, /plain JSON/],
    [
      'NaN inside an object',
      (s) => s.set('n', { a: Number.NaN }),
      InvalidStateValueError,
      400,
      /\$\.a is NaN/,
    ],
    [
      'a zero TTL',
      (s) => s.set('k', 1, { ttlSeconds: 0 }),
      InvalidStateValueError,
      400,
      /ttlSeconds must be a positive number of seconds .* got 0/,
    ],
    [
      'a TTL in words',
      (s) => s.set('k', 1, { ttlSeconds: 'soon' as unknown as number }),
      InvalidStateValueError,
      400,
      /got soon/,
    ],
    [
      'a fractional increment',
      (s) => s.incr('k', 1.5),
      InvalidStateValueError,
      400,
      /safe integer amount, got 1.5/,
    ],
    [
      'a version that is not a string',
      (s) => s.compareAndSet('k', 7 as unknown as string, 1),
      InvalidStateValueError,
      400,
      /version string/,
    ],
  ];
  for (const [what, call, type, status, message] of refusals) {
    it(`refuses ${what} with a ${status} a handler can tell by name`, async () => {
      const { state } = memoryState();
      const error = await rejection(call(state));
      assert.ok(error instanceof type, `${error.name}: ${error.message}`);
      assert.equal(error.name, type.name);
      assert.match(error.message, message);
      const response = answer(error);
      assert.equal(response.statusCode, status);
      assert.equal(response.body.error, error.message);
      assert.equal(response.body.code, error.code);
      assert.equal(response.body.stack, undefined);
    });
  }

  it('names the limit in the body of a value too large', async () => {
    const error = await rejection(memoryState().state.set('big', 'x'.repeat(100)));
    assert.deepEqual(answer(error).body, {
      error: 'state key "big": the value is 102 bytes as JSON, over the limit of 64 bytes',
      code: 'StateValueTooLarge',
      limit: 64,
      invocationId: 'call-1',
    });
  });

  it('refuses incr on a value that is not an integer with a 409', async () => {
    const { state } = memoryState();
    await state.set('name', 'ada');
    const error = await rejection(state.incr('name'));
    assert.ok(error instanceof StateNotAnIntegerError);
    assert.equal(answer(error).statusCode, 409);
  });

  it('reports a store out of reach as 503 with Retry-After, keeping the cause', async () => {
    const cause = new StoreStateUnavailableError(
      'state get of key "k" for team/counter: Redis is unavailable (connect ECONNREFUSED)',
    );
    const error = await rejection(new PortFunctionState(failingPort(cause)).get('k'));
    assert.ok(error instanceof StateUnavailableError);
    assert.equal(error.message, cause.message);
    assert.equal(error.cause, cause);
    const response = answer(error);
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.headers, { 'retry-after': '1' });
    assert.equal(response.body.code, 'StateUnavailable');
  });

  it('reports a refusal by Redis (NOPERM) and anything unknown as 500 StateRefused', async () => {
    for (const cause of [
      new StoreCommandError('state get: Redis refused it: NOPERM this user has no permissions'),
      new TypeError('something odd'),
      'a string thrown',
    ]) {
      const error = await rejection(new PortFunctionState(failingPort(cause)).incr('k'));
      assert.ok(error instanceof StateRefusedError, error.name);
      assert.match(error.message, /^function state failed: /);
      assert.equal(answer(error).statusCode, 500);
    }
  });

  it('rejects every call with StateNotEnabledError when state is off', async () => {
    const state = new DisabledFunctionState();
    for (const call of [
      state.get(),
      state.getWithVersion(),
      state.set(),
      state.delete(),
      state.incr(),
      state.compareAndSet(),
    ]) {
      const error = await rejection(call);
      assert.ok(error instanceof StateNotEnabledError);
      assert.match(error.message, /spec\.state\.enabled: true/);
      assert.equal(answer(error).statusCode, 500);
      assert.equal(answer(error).body.code, 'StateNotEnabled');
    }
  });

  it('maps errors that crossed a process boundary by name, with their limit', () => {
    const cases: [{ name: string; message: string; limit?: number }, string][] = [
      [{ name: 'StateUnavailableError', message: 'm' }, 'StateUnavailableError'],
      [{ name: 'StoreUnavailableError', message: 'm' }, 'StateUnavailableError'],
      [{ name: 'StateValueTooLargeError', message: 'm', limit: 9 }, 'StateValueTooLargeError'],
      [{ name: 'InvalidStateKeyError', message: 'm' }, 'InvalidStateKeyError'],
      [{ name: 'InvalidStateValueError', message: 'm' }, 'InvalidStateValueError'],
      [{ name: 'InvalidStoreInputError', message: 'm' }, 'InvalidStateValueError'],
      [{ name: 'StateNotAnIntegerError', message: 'm' }, 'StateNotAnIntegerError'],
      [{ name: 'StateNotEnabledError', message: 'm' }, 'StateNotEnabledError'],
      [{ name: 'StoreCommandError', message: 'm' }, 'StateRefusedError'],
    ];
    for (const [info, name] of cases) {
      const error = toStateError(info);
      assert.equal(error.name, name, info.name);
    }
    const tooLarge = toStateError({ name: 'StateValueTooLargeError', message: 'm', limit: 9 });
    assert.ok(tooLarge instanceof StateValueTooLargeError);
    assert.equal(tooLarge.limit, 9);
  });
});
