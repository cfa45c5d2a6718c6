import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type RedisStores, createRedisStores, stateKeyPrefix } from '@nimbus/store';
import { type RedisServer, startRedisServer } from '@nimbus/testkit';
import { removeFunctionDirs, writeFunctionDir } from './support/function-dir.js';
import { eventually, request } from './support/http-client.js';
import { RuntimeProcess } from './support/runtime-process.js';

/** A handler that puts ctx.state on HTTP: /<operation>?key=..., values in the JSON body. */
const STATE_ROUTES = `export default async (event, ctx) => {
  const q = event.query;
  const s = ctx.state;
  const options = q.ttl === undefined ? undefined : { ttlSeconds: Number(q.ttl) };
  switch (event.path) {
    case '/ping': return { pong: true };
    case '/get': return { value: (await s.get(q.key)) ?? null };
    case '/entry': return { entry: (await s.getWithVersion(q.key)) ?? null };
    case '/set': return { version: await s.set(q.key, event.body, options) };
    case '/delete': return { deleted: await s.delete(q.key) };
    case '/incr': return { value: await s.incr(q.key, q.by === undefined ? undefined : Number(q.by)) };
    case '/cas': return { ok: await s.compareAndSet(q.key, q.version === 'null' ? null : q.version, event.body, options) };
    case '/caught':
      try { await s.get(q.key); return { caught: null }; }
      catch (error) { return { caught: { name: error.name, message: error.message } }; }
  }
  return { statusCode: 404, body: 'no such route' };
};
`;

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function functionEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NIMBUS_FUNCTION_DIR: writeFunctionDir({ 'index.mjs': STATE_ROUTES }),
    NIMBUS_FUNCTION_NAME: 'counter',
    NIMBUS_FUNCTION_NAMESPACE: 'team',
    NIMBUS_STATE_REDIS_URL: url,
    NIMBUS_STATE_MAX_VALUE_BYTES: '1024',
    ...extra,
  };
}

describe('runtime process: ctx.state on a real Redis', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let admin: RedisStores;
  let runtime: RuntimeProcess;
  const call = (route: string, options = {}) => request(runtime.port, route, options);
  const pttl = (key: string) =>
    admin.connection.run('pttl', (c) => c.pttl(stateKeyPrefix('team', 'counter') + key));

  before(async () => {
    server = await startRedisServer();
    admin = createRedisStores(server.url);
    runtime = await RuntimeProcess.start(functionEnv(server.url));
  });
  after(async () => {
    await runtime?.stop();
    await admin?.close();
    await server?.stop();
    removeFunctionDirs();
  });

  it('loads the Redis adapter on the first state call, not at start-up', async () => {
    const loaded = (line: Record<string, unknown>) => line.msg === 'function state: Redis adapter loaded';
    assert.equal((await call('/ping')).status, 200);
    assert.equal(runtime.logLines.filter(loaded).length, 0, 'not loaded by a call without state');
    assert.deepEqual((await call('/get?key=nothing')).json(), { value: null });
    await call('/get?key=nothing');
    await runtime.waitForLog(loaded);
    assert.equal(runtime.logLines.filter(loaded).length, 1, 'loaded once');
  });

  it('sets, gets, deletes and increments through a handler, in the function key space', async () => {
    const set = await call('/set?key=profile', json({ name: 'Ada', langs: ['en', 'fr'] }));
    assert.equal(set.status, 200, set.text);
    assert.deepEqual((await call('/get?key=profile')).json(), {
      value: { name: 'Ada', langs: ['en', 'fr'] },
    });
    const stored = await admin.connection.run('hgetall', (c) =>
      c.hgetall('nimbus:state:team:counter:profile'),
    );
    assert.equal(stored.v, '{"name":"Ada","langs":["en","fr"]}', 'under the prefix of team/counter');
    assert.equal(stored.ver, set.json<{ version: string }>().version);
    assert.deepEqual((await call('/delete?key=profile')).json(), { deleted: true });
    assert.deepEqual((await call('/delete?key=profile')).json(), { deleted: false });
    assert.deepEqual((await call('/get?key=profile')).json(), { value: null });
    assert.deepEqual((await call('/incr?key=hits')).json(), { value: 1 });
    assert.deepEqual((await call('/incr?key=hits&by=9')).json(), { value: 10 });
  });

  it('sums increments from concurrent requests exactly', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, () => call('/incr?key=concurrent')));
    assert.ok(replies.every((r) => r.status === 200));
    const values = replies.map((r) => r.json<{ value: number }>().value).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 50 }, (_, i) => i + 1),
      'each increment seen once',
    );
  });

  it('expires a key set with a TTL', async () => {
    await call('/set?key=session&ttl=0.4', json('token'));
    const ms = await pttl('session');
    assert.ok(ms > 0 && ms <= 400, `PTTL ${ms}`);
    assert.deepEqual((await call('/get?key=session')).json(), { value: 'token' });
    await eventually(
      async () =>
        (await call('/get?key=session')).json<{ value: unknown }>().value === null ? true : undefined,
      5_000,
      'the key to expire',
    );
    await call('/set?key=session', json('forever'));
    assert.equal(await pttl('session'), -1, 'a write without a TTL never expires');
  });

  it('compares and sets by the version from getWithVersion', async () => {
    assert.deepEqual((await call('/cas?key=doc&version=null', json({ rev: 1 }))).json(), { ok: true });
    assert.deepEqual((await call('/cas?key=doc&version=null', json({ rev: 9 }))).json(), { ok: false });
    const { entry } = (await call('/entry?key=doc')).json<{ entry: { value: unknown; version: string } }>();
    assert.deepEqual(entry.value, { rev: 1 });
    assert.deepEqual((await call(`/cas?key=doc&version=${entry.version}`, json({ rev: 2 }))).json(), {
      ok: true,
    });
    assert.deepEqual((await call(`/cas?key=doc&version=${entry.version}`, json({ rev: 3 }))).json(), {
      ok: false,
    });
    assert.deepEqual((await call('/get?key=doc')).json(), { value: { rev: 2 } });
  });

  it('answers 413 naming the limit for a value too large, and nothing is stored', async () => {
    const reply = await call('/set?key=big', json('x'.repeat(2000)));
    assert.equal(reply.status, 413);
    const body = reply.json();
    assert.equal(body.code, 'StateValueTooLarge');
    assert.equal(body.limit, 1024);
    assert.equal(
      body.error,
      'state key "big": the value is 2002 bytes as JSON, over the limit of 1024 bytes',
    );
    assert.equal(typeof body.invocationId, 'string');
    assert.equal(body.stack, undefined);
    assert.deepEqual((await call('/get?key=big')).json(), { value: null });
  });

  it('answers 400 for a bad key, and 409 for incr on a value that is not an integer', async () => {
    const bad = await call(`/get?key=${'k'.repeat(600)}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().code, 'InvalidStateKey');
    assert.match(String(bad.json().error), /at most 512 bytes/);
    await call('/set?key=word', json('seven'));
    const notInteger = await call('/incr?key=word');
    assert.equal(notInteger.status, 409);
    assert.equal(notInteger.json().code, 'StateNotAnInteger');
  });

  it('logs a state failure the handler let through', async () => {
    await call('/incr?key=word');
    await runtime.waitForLog((l) => l.msg === 'state call failed' && l.code === 'StateNotAnInteger');
  });
});

describe('runtime process: ctx.state while Redis is down', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let runtime: RuntimeProcess;
  const call = (route: string, options = {}) => request(runtime.port, route, options);

  before(async () => {
    server = await startRedisServer();
    runtime = await RuntimeProcess.start(functionEnv(server.url));
  });
  after(async () => {
    await runtime?.stop();
    await server?.stop();
    removeFunctionDirs();
  });

  it('fails state calls fast and clearly, keeps serving calls without state, and recovers by itself', async () => {
    assert.deepEqual((await call('/incr?key=n')).json(), { value: 1 });
    await server.stop();

    const started = Date.now();
    const down = await call('/incr?key=n');
    const tookMs = Date.now() - started;
    assert.equal(down.status, 503, down.text);
    assert.equal(down.headers['retry-after'], '1');
    const body = down.json();
    assert.equal(body.code, 'StateUnavailable');
    assert.match(String(body.error), /^state incr of key "n" for team\/counter: Redis is unavailable/);
    assert.equal(body.stack, undefined);
    assert.ok(tookMs < 1500, `a state call while Redis is down answered in ${tookMs} ms`);

    const caught = (await call('/caught?key=n')).json<{ caught: { name: string } }>();
    assert.equal(caught.caught.name, 'StateUnavailableError', 'a handler can tell the error by name');
    for (let i = 0; i < 5; i++) assert.equal((await call('/ping')).status, 200, 'calls without state');

    await server.start(); // the same port, empty
    const back = await eventually(
      async () => {
        const reply = await call('/incr?key=n');
        return reply.status === 200 ? reply.json() : undefined;
      },
      10_000,
      'state calls to work again',
    );
    assert.deepEqual(back, { value: 1 }, 'a fresh Redis: the count starts again');
    assert.ok(runtime.alive, 'the same process, never restarted');
  });
});

describe('runtime process: ctx.state as the function Redis user', function () {
  this.timeout(30_000);
  const adminPassword = 'admin-secret-0123456789';
  let server: RedisServer;
  let admin: RedisStores;
  const runtimes: RuntimeProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const runtime = await RuntimeProcess.start(env);
    runtimes.push(runtime);
    return runtime;
  };

  before(async () => {
    server = await startRedisServer({ args: ['--requirepass', adminPassword] });
    admin = createRedisStores(`redis://:${adminPassword}@127.0.0.1:${server.port}`);
  });
  after(async () => {
    await Promise.all(runtimes.map((r) => r.stop()));
    await admin?.close();
    await server?.stop();
    removeFunctionDirs();
  });

  it('logs in with the password from a file and works in its own key space', async () => {
    const user = await admin.acl.ensureFunctionUser('team', 'counter');
    const dir = writeFunctionDir({ password: `${user.password}\n` });
    const runtime = await start(
      functionEnv(server.url, {
        NIMBUS_STATE_REDIS_USERNAME: user.username,
        NIMBUS_STATE_REDIS_PASSWORD_FILE: path.join(dir, 'password'),
      }),
    );
    assert.deepEqual((await request(runtime.port, '/incr?key=n&by=5')).json(), { value: 5 });
    const stored = await admin.connection.run('hget', (c) => c.hget(`${user.keyPrefix}n`, 'v'));
    assert.equal(stored, '5');
  });

  it('answers 503 naming the refused login for a wrong password, and names an unreadable password file', async () => {
    const user = await admin.acl.ensureFunctionUser('team', 'counter');
    const dir = writeFunctionDir({});
    writeFileSync(path.join(dir, 'wrong'), 'not-the-password-0123456789');
    const wrong = await start(
      functionEnv(server.url, {
        NIMBUS_STATE_REDIS_USERNAME: user.username,
        NIMBUS_STATE_REDIS_PASSWORD_FILE: path.join(dir, 'wrong'),
      }),
    );
    const refused = await request(wrong.port, '/get?key=n');
    assert.equal(refused.status, 503);
    assert.match(String(refused.json().error), /WRONGPASS/);

    const missing = await start(
      functionEnv(server.url, {
        NIMBUS_STATE_REDIS_USERNAME: user.username,
        NIMBUS_STATE_REDIS_PASSWORD_FILE: path.join(dir, 'absent'),
      }),
    );
    const unreadable = await request(missing.port, '/get?key=n');
    assert.equal(unreadable.status, 503);
    assert.match(
      String(unreadable.json().error),
      /cannot read the Redis password from NIMBUS_STATE_REDIS_PASSWORD_FILE \(.*absent\): ENOENT/,
    );
    assert.equal((await request(missing.port, '/ping')).status, 200);
  });
});
