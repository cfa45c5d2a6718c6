import assert from 'node:assert/strict';
import { type RedisServer, eventually, freePort, startRedisServer } from '@nimbus/testkit';
import { StateUnavailableError, StoreUnavailableError } from '../src/errors.js';
import type { StoreLogger } from '../src/logger.js';
import { type RedisStores, createRedisStores } from '../src/stores.js';
import { uniqueRoot } from './redis-fixture.js';

class RecordingLogger implements StoreLogger {
  readonly lines: { level: string; msg: string }[] = [];
  info(msg: string): void {
    this.lines.push({ level: 'info', msg });
  }
  warn(msg: string): void {
    this.lines.push({ level: 'warn', msg });
  }
  count(level: string): number {
    return this.lines.filter((l) => l.level === level).length;
  }
}

/** Runs `operation`, expecting it to reject with `ErrorClass` within `withinMs`. */
async function rejectsWithin(
  operation: () => Promise<unknown>,
  ErrorClass: typeof StoreUnavailableError,
  withinMs: number,
): Promise<Error> {
  const started = performance.now();
  const err = await operation().then(
    () => assert.fail('it resolved while Redis was down'),
    (e: unknown) => e,
  );
  const elapsed = performance.now() - started;
  assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${String(err)}`);
  assert.ok(elapsed < withinMs, `it took ${Math.round(elapsed)} ms, more than ${withinMs}`);
  assert.ok(err.cause instanceof Error, 'the ioredis error is attached as cause');
  return err;
}

// These suites stop and start Redis, so each runs a server of its own.
describe('Redis stores when Redis goes away', function () {
  this.timeout(60_000);
  let server: RedisServer;
  let stores: RedisStores;
  let logger: RecordingLogger;

  beforeEach(async () => {
    server = await startRedisServer();
    logger = new RecordingLogger();
    stores = createRedisStores(server.url, { root: uniqueRoot(), logger, name: 'test' });
  });
  afterEach(async () => {
    await stores.close();
    await server.stop();
  });

  it('fails state calls fast with StateUnavailableError, then works again on the same client when Redis is back', async () => {
    const state = stores.state.scoped('team-a', 'counter');
    assert.equal(await state.incr('n'), 1);

    await server.stop();
    const err = await rejectsWithin(() => state.incr('n'), StateUnavailableError, 2_000);
    assert.match(err.message, /state incr of key "n" for team-a\/counter/);
    await rejectsWithin(() => state.get('n'), StateUnavailableError, 2_000);
    await rejectsWithin(() => state.set('n', 5), StateUnavailableError, 2_000);
    await rejectsWithin(() => stores.calls.get('c1'), StoreUnavailableError, 2_000);
    await rejectsWithin(() => stores.claims.claim('tick', 'gw-1', 1_000), StoreUnavailableError, 2_000);
    await rejectsWithin(() => stores.deadLetters.list(), StoreUnavailableError, 2_000);

    await server.start();
    // The server comes back empty (nothing is persisted), so the counter starts again.
    const n = await eventually(() => state.incr('n').catch(() => undefined), 10_000, 'state to work again');
    assert.equal(n, 1);
    assert.equal(await state.incr('n'), 2);
    assert.equal(await stores.claims.claim('tick', 'gw-1', 1_000), true);
    assert.equal(logger.count('warn'), 1, `one warning for the outage: ${JSON.stringify(logger.lines)}`);
    assert.equal(logger.count('info'), 1, 'one line when it is back');
  });

  it('fails a call to a server that stopped answering after the command timeout', async () => {
    const state = stores.state.scoped('team-a', 'counter');
    await state.set('k', 'v');
    const pid = server.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP'); // the process is alive and the socket open, but nothing answers
    try {
      const started = performance.now();
      await rejectsWithin(() => state.get('k'), StateUnavailableError, 2_000);
      assert.ok(performance.now() - started >= 900, 'it waited for the 1 s command timeout');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.equal(
      await eventually(
        async () => (await state.get('k').catch(() => undefined))?.value,
        10_000,
        'the answer',
      ),
      'v',
    );
  });
});

describe('Redis stores when Redis is not there at first', function () {
  this.timeout(60_000);
  let server: RedisServer | undefined;
  let stores: RedisStores | undefined;
  afterEach(async () => {
    await stores?.close();
    await server?.stop();
  });

  it('fails the first calls fast, and connects once Redis starts', async () => {
    const port = await freePort();
    stores = createRedisStores(`redis://127.0.0.1:${port}`, { root: uniqueRoot() });
    const state = stores.state.scoped('team-a', 'counter');
    await rejectsWithin(() => state.get('k'), StateUnavailableError, 2_000);
    await rejectsWithin(() => state.get('k'), StateUnavailableError, 2_000);

    server = await startRedisServer({ port });
    await eventually(() => state.set('k', 'v').catch(() => undefined), 10_000, 'state to work');
    assert.equal((await state.get('k'))?.value, 'v');
  });
});
