import assert from 'node:assert/strict';
import { type RedisServer, startRedisServer } from '@nimbus/testkit';
import type { Redis } from 'ioredis';
import { StateUnavailableError, StoreCommandError } from '../src/errors.js';
import { stateKeyPrefix } from '../src/keys.js';
import { type FunctionUser, functionUserRules } from '../src/redis/acl.js';
import { RedisStateStore } from '../src/redis/state-store.js';
import {
  type FunctionStateConnection,
  type RedisStores,
  createRedisStores,
  openFunctionState,
} from '../src/stores.js';
import { RedisClients, uniqueRoot } from './redis-fixture.js';

/** The reply error a raw command gets, or a failure when it succeeds. */
async function refusal(command: Promise<unknown>): Promise<string> {
  return command.then(
    (reply) => assert.fail(`the command was allowed: ${JSON.stringify(reply)}`),
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
}

// A server of its own, set up as in production: the default user needs a password, so a
// connection whose login is refused can do nothing at all (with an open default user it would
// run as that user until ioredis notices the refusal).
describe('Redis ACL users per function', () => {
  const adminPassword = 'admin-secret-0123456789';
  let server: RedisServer;
  let clients: RedisClients;
  let admin: RedisStores;
  let root: string;
  let alpha: FunctionUser;
  let beta: FunctionUser;
  let opened: FunctionStateConnection[];

  const asFunction = (user: FunctionUser, fn: string) => {
    const connection = openFunctionState({
      url: clients.url,
      username: user.username,
      password: user.password,
      namespace: 'team-a',
      function: fn,
      root,
    });
    opened.push(connection);
    return connection.state;
  };
  /** A plain client logged in as `user`; rejects when the login is refused. */
  const rawAs = async (user: FunctionUser): Promise<Redis> => {
    const client = clients.raw({ username: user.username, password: user.password });
    await client.connect();
    await client.ping(); // ioredis reports a refused AUTH on the next command, not on connect
    return client;
  };

  /** Logs in as `user` on a fresh connection: resolves 'OK' or rejects with Redis's refusal. */
  const login = (user: FunctionUser) => clients.raw().call('AUTH', user.username, user.password);

  before(async () => {
    server = await startRedisServer({ args: ['--requirepass', adminPassword] });
  });
  after(async () => {
    await server.stop();
  });

  beforeEach(async () => {
    clients = new RedisClients(`redis://:${adminPassword}@127.0.0.1:${server.port}`);
    root = uniqueRoot();
    opened = [];
    admin = createRedisStores(clients.url, { root });
    alpha = await admin.acl.ensureFunctionUser('team-a', 'alpha');
    beta = await admin.acl.ensureFunctionUser('team-a', 'beta');
  });
  afterEach(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await admin.acl.deleteFunctionUser('team-a', 'alpha');
    await admin.acl.deleteFunctionUser('team-a', 'beta');
    await admin.close();
    await clients.closeAll();
  });

  it('names the user and its key prefix after the function', () => {
    assert.equal(alpha.username, `${root}-fn:team-a:alpha`);
    assert.equal(alpha.keyPrefix, `${root}:state:team-a:alpha:`);
    assert.equal(alpha.keyPrefix, stateKeyPrefix('team-a', 'alpha', root));
    assert.ok(alpha.password.length >= 32);
    assert.notEqual(alpha.password, beta.password);
  });

  it('grants exactly the key prefix and the commands the state adapter sends', () => {
    assert.deepEqual(functionUserRules('nimbus:state:ns:fn:', 'p'.repeat(20)), [
      'reset',
      'on',
      `>${'p'.repeat(20)}`,
      '~nimbus:state:ns:fn:*',
      'resetchannels',
      '-@all',
      '+ping',
      '+evalsha',
      '+eval',
      '+hmget',
      '+hget',
      '+hset',
      '+del',
      '+pexpire',
      '+persist',
    ]);
  });

  it("lets a function's user use every state operation on its own key space", async () => {
    const state = asFunction(alpha, 'alpha');
    const v1 = await state.set('k', { a: 1 }, { ttlMs: 60_000 });
    assert.deepEqual(await state.get('k'), { value: { a: 1 }, version: v1 });
    const cas = await state.compareAndSet('k', v1, { a: 2 });
    assert.equal(cas.ok, true);
    assert.equal((await state.compareAndSet('k', v1, { a: 3 })).ok, false);
    assert.equal(await state.incr('n', 5), 5);
    assert.equal(await state.delete('k'), true);
    assert.equal(await state.get('k'), undefined);
  });

  it('keeps working after the script cache is flushed (EVAL fallback)', async () => {
    const state = asFunction(alpha, 'alpha');
    await state.set('k', 1);
    await clients.raw().script('FLUSH');
    assert.equal(await state.incr('k'), 2);
    await state.set('k', 3, { ttlMs: 1_000 });
    assert.equal((await state.compareAndSet('k', null, 4)).ok, false);
  });

  it("refuses a function's user every read and write of another function's state (NOPERM)", async () => {
    await asFunction(beta, 'beta').set('secret', 'beta-only');
    // A state client logged in as alpha's user, pointed at beta's key space.
    const asAlpha = clients.connection({ username: alpha.username, password: alpha.password });
    const intoBeta = new RedisStateStore(asAlpha, { root }).scoped('team-a', 'beta');
    const operations: [string, () => Promise<unknown>][] = [
      ['get', () => intoBeta.get('secret')],
      ['set', () => intoBeta.set('secret', 'alpha was here')],
      ['delete', () => intoBeta.delete('secret')],
      ['incr', () => intoBeta.incr('counter')],
      ['compareAndSet', () => intoBeta.compareAndSet('secret', null, 'x')],
    ];
    for (const [what, operation] of operations) {
      await assert.rejects(operation(), (err: unknown) => {
        assert.ok(err instanceof StoreCommandError, `${what}: ${String(err)}`);
        assert.match(err.message, /NOPERM/, what);
        return true;
      });
    }
    assert.equal((await asFunction(beta, 'beta').get('secret'))?.value, 'beta-only');
  });

  it("refuses a function's user raw access to other keys and to server-wide commands", async () => {
    await asFunction(beta, 'beta').set('secret', 'beta-only');
    const raw = await rawAs(alpha);
    const betaKey = `${beta.keyPrefix}secret`;
    const refused: [string, () => Promise<unknown>][] = [
      ['HGET on beta', () => raw.hget(betaKey, 'v')],
      ['HSET on beta', () => raw.hset(betaKey, 'v', '"x"')],
      ['DEL on beta', () => raw.del(betaKey)],
      ['GET (not granted)', () => raw.get(`${alpha.keyPrefix}k`)],
      ['KEYS', () => raw.keys('*')],
      ['SCAN', () => raw.scan('0')],
      ['FLUSHALL', () => raw.flushall()],
      ['FLUSHDB', () => raw.flushdb()],
      ['CONFIG GET', () => raw.config('GET', 'requirepass')],
      ['INFO', () => raw.info()],
      ['ACL LIST', () => raw.call('ACL', 'LIST')],
      ['SELECT', () => raw.select(1)],
      ['PUBLISH', () => raw.publish('ch', 'x')],
      ['SCRIPT FLUSH', () => raw.script('FLUSH')],
      ['EVAL declaring beta', () => raw.eval("return redis.call('HGET', KEYS[1], 'v')", 1, betaKey)],
      [
        'EVAL reaching beta undeclared',
        () => raw.eval("return redis.call('HGET', ARGV[1], 'v')", 1, `${alpha.keyPrefix}k`, betaKey),
      ],
      ['EVAL with a command not granted', () => raw.eval("return redis.call('FLUSHALL')", 0)],
      ['EVAL with KEYS', () => raw.eval("return redis.call('KEYS', '*')", 0)],
    ];
    for (const [what, command] of refused) {
      // NOPERM for a command; inside a script, "can't run" a command or "can't access" a key.
      assert.match(await refusal(command()), /NOPERM|no permissions|can't access|can't run/i, what);
    }
    assert.equal(await raw.ping(), 'PONG');
    assert.equal(
      await raw.hget(betaKey.replace(beta.keyPrefix, alpha.keyPrefix), 'v'),
      null,
      'its own prefix is open',
    );
    assert.equal(await clients.raw().hget(betaKey, 'v'), '"beta-only"');
  });

  it('keeps the password when given it again, and replaces it otherwise', async () => {
    const same = await admin.acl.ensureFunctionUser('team-a', 'alpha', { password: alpha.password });
    assert.equal(same.password, alpha.password);
    assert.equal(await login(alpha), 'OK');

    const rotated = await admin.acl.ensureFunctionUser('team-a', 'alpha');
    assert.notEqual(rotated.password, alpha.password);
    assert.match(await refusal(login(alpha)), /WRONGPASS/);
    assert.equal(await login(rotated), 'OK');
  });

  it('deletes the user, once, and its credentials stop working', async () => {
    assert.equal(await login(alpha), 'OK');
    assert.equal(await admin.acl.deleteFunctionUser('team-a', 'alpha'), true);
    assert.equal(await admin.acl.deleteFunctionUser('team-a', 'alpha'), false);
    assert.match(await refusal(login(alpha)), /WRONGPASS/);
  });

  it('fails state calls with a wrong password as unavailable, naming the refused login', async () => {
    const state = asFunction({ ...alpha, password: 'x'.repeat(32) }, 'alpha');
    await assert.rejects(state.get('k'), (err: unknown) => {
      assert.ok(err instanceof StateUnavailableError, String(err));
      assert.match(err.message, /WRONGPASS/);
      return true;
    });
  });

  it('refuses a weak password', async () => {
    await assert.rejects(admin.acl.ensureFunctionUser('team-a', 'alpha', { password: 'short' }), /16-256/);
    await assert.rejects(
      admin.acl.ensureFunctionUser('team-a', 'alpha', { password: 'has a space in it ok' }),
      /16-256/,
    );
  });
});
