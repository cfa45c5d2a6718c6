import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { RedisConnection } from '@nimbus/store';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { admin, callReaches, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

/*
 * Issue 11, a leftover of items 5 and 9: a caller's credentials on an async call (its bearer
 * token, session cookie, API key) must not sit in Redis for the dead letters' 7 days, nor show in
 * the admin API to every admin key. Tried against local mode with a real Redis and NATS: the
 * function still gets them when it runs, but nothing Nimbus stores holds them.
 */

const SECRETS = {
  authorization: 'Bearer caller-token-5e1f7a',
  cookie: 'sid=caller-session-9b2c40',
  'x-api-key': 'caller-api-key-77d0e3',
  'x-auth-token': 'caller-auth-token-1a8b2f',
};
const SECRET_VALUES = [
  'caller-token-5e1f7a',
  'caller-session-9b2c40',
  'caller-api-key-77d0e3',
  'caller-auth-token-1a8b2f',
];
/** Not a credential: kept, so finding it in Redis shows the search reads what the stores wrote. */
const MARKER = 'ordinary-header-marker-3c9d';
const SESSION = 'function-set-session-4f6e11';

/** A public function that checks its own Authorization, and fails, so its calls dead-letter. */
const PICKY = `export default async (event) => ({
  statusCode: 500,
  body: { sawAuthorization: event.headers.authorization !== undefined, sawCookie: event.headers.cookie !== undefined },
});`;
/** Succeeds and sets a session cookie for its caller. */
const LOGIN = `export default async () => ({
  statusCode: 200,
  headers: { 'set-cookie': 'session=${SESSION}; HttpOnly', 'content-type': 'text/plain' },
  body: 'welcome',
});`;

const ONE = 'scale:\n  min: 1\n  max: 1\nasync:\n  maxAttempts: 1';
const FIXTURES = {
  'picky.yaml': inlineFunction('picky', PICKY, ONE),
  'keyed.yaml': inlineFunction('keyed', PICKY, `${ONE}\nhttp: { auth: key }`),
  'login.yaml': inlineFunction('login', LOGIN, ONE),
};

describe('security: async calls keep no caller credentials in Redis or the admin API', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let platform: LocalModeProcess;
  let dir: string;
  let raw: RedisConnection;
  /** Every admin answer read here, to search for the secrets at the end. */
  const adminAnswers: string[] = [];

  const asAdmin = async (path: string, init: { method?: string } = {}) => {
    const reply = await send(platform.url, path, { ...init, headers: admin });
    adminAnswers.push(reply.text);
    return reply;
  };
  const queue = async (fn: string, headers: Record<string, string>) => {
    const reply = await postAsync(platform.url, fn, headers, '{"order":42}');
    assert.equal(reply.status, 202, reply.text);
    return String(reply.headers['x-call-id']);
  };
  /** Every key and every value in Redis, as one text. */
  const everythingInRedis = (): Promise<string> =>
    raw.run('reading every key', async (client) => {
      const parts: string[] = [];
      for (const key of await client.keys('*')) {
        parts.push(key);
        const type = await client.type(key);
        if (type === 'string') parts.push((await client.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await client.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'set') parts.push(JSON.stringify(await client.smembers(key)));
        else if (type === 'list') parts.push(JSON.stringify(await client.lrange(key, 0, -1)));
        else if (type === 'stream') parts.push(JSON.stringify(await client.xrange(key, '-', '+')));
        else parts.push(`<${type}>`);
      }
      return parts.join('\n');
    });
  const assertNoSecret = (text: string, where: string) => {
    for (const secret of [...SECRET_VALUES, SESSION])
      assert.ok(!text.includes(secret), `${where} holds ${secret}`);
  };

  before(async () => {
    [redis, nats] = await Promise.all([startRedisServer(), startNatsServer()]);
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, { NIMBUS_REDIS_URL: redis.url, NIMBUS_NATS_URL: nats.url });
    raw = new RedisConnection({ url: redis.url });
    for (const fn of ['picky', 'keyed', 'login'])
      await eventually(
        async () => {
          const headers: Record<string, string> =
            fn === 'keyed' ? { authorization: `Bearer ${INVOKE_KEY}` } : {};
          return (await send(platform.url, `/function/${fn}`, { headers })).status !== 503 ? true : undefined;
        },
        20_000,
        `${fn} to have a ready replica`,
      );
  });

  after(async () => {
    await raw?.close();
    await platform?.stop();
    await Promise.all([nats?.stop(), redis?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  let picky: string;
  let keyed: string;
  let login: string;

  it('runs the call with the credentials, then dead-letters it without them, naming what was left out', async () => {
    picky = await queue('picky', { ...SECRETS, 'x-marker': MARKER });
    const failed = await callReaches(platform.url, picky, 'failed');
    // The function itself got what its caller sent: a public function may check its own credentials.
    assert.match(failed.lastError ?? '', /"sawAuthorization":true,"sawCookie":true/);

    const letter = await asAdmin(`/system/dead-letters/${picky}`);
    assert.equal(letter.status, 200, letter.text);
    const { request } = letter.json<{
      request: { headers: Record<string, string>; removedHeaders?: string[] };
    }>();
    assert.equal(request.headers['x-marker'], MARKER, 'the other headers are kept for a redrive');
    for (const name of Object.keys(SECRETS)) assert.equal(request.headers[name], undefined, name);
    assert.deepEqual([...(request.removedHeaders ?? [])].sort(), Object.keys(SECRETS).sort());
  });

  it('keeps a key-protected call’s key out of the dead letter too (the gateway consumed it)', async () => {
    keyed = await queue('keyed', { authorization: `Bearer ${INVOKE_KEY}`, cookie: SECRETS.cookie });
    const failed = await callReaches(platform.url, keyed, 'failed');
    assert.match(failed.lastError ?? '', /"sawAuthorization":false,"sawCookie":true/);
    const letter = await asAdmin(`/system/dead-letters/${keyed}`);
    assert.ok(!letter.text.includes(INVOKE_KEY), letter.text);
    assert.deepEqual(letter.json<{ request: { removedHeaders?: string[] } }>().request.removedHeaders, [
      'cookie',
    ]);
  });

  it('keeps no cookie the function set for its caller in the call record', async () => {
    login = await queue('login', { cookie: SECRETS.cookie });
    const done = await callReaches(platform.url, login, 'succeeded');
    assert.equal(done.result?.body, 'welcome');
    assert.equal(done.result?.headers['set-cookie'], undefined);
    assert.equal(done.result?.headers['content-type'], 'text/plain');
  });

  it('shows no admin a credential: call records, the dead-letter list and each entry', async () => {
    for (const id of [picky, keyed, login]) assert.equal((await asAdmin(`/system/calls/${id}`)).status, 200);
    const list = await asAdmin('/system/dead-letters');
    assert.equal(list.status, 200);
    assert.ok(list.json<{ entries: { id: string }[] }>().entries.length >= 2);
    assert.ok(list.text.includes(MARKER), 'the list shows the requests');
    for (const text of adminAnswers) assertNoSecret(text, 'an admin answer');
  });

  it('holds no credential anywhere in Redis, read key by key with a plain client', async () => {
    const everything = await everythingInRedis();
    assert.ok(everything.includes(MARKER), 'the search sees the stored requests');
    assert.ok(everything.includes('welcome'), 'and the stored results');
    assertNoSecret(everything, 'Redis');
    assert.ok(!everything.includes(INVOKE_KEY), 'Redis holds the invoke key');
  });

  it('refuses to redrive a letter kept without its credentials (409), unless told to run it without them', async () => {
    const refused = await asAdmin(`/system/dead-letters/${picky}/redrive`, { method: 'POST' });
    assert.equal(refused.status, 409, refused.text);
    const problem = refused.json<{ code: string; error: string }>();
    assert.equal(problem.code, 'DeadLetterCredentialsRemoved');
    assert.match(problem.error, /authorization/);
    assert.match(problem.error, /withoutCredentials=true/);
    assert.equal((await asAdmin(`/system/dead-letters/${picky}`)).status, 200, 'the letter is kept');

    const bad = await asAdmin(`/system/dead-letters/${picky}/redrive?withoutCredentials=yes`, {
      method: 'POST',
    });
    assert.equal(bad.status, 400, bad.text);

    const redriven = await asAdmin(`/system/dead-letters/${picky}/redrive?withoutCredentials=true`, {
      method: 'POST',
    });
    assert.equal(redriven.status, 202, redriven.text);
    // The function fails again, and says it ran without them: nothing was replayed from anywhere.
    const again = await eventually(
      async () => {
        const call = await callReaches(platform.url, picky, 'failed');
        return /sawAuthorization":false/.test(call.lastError ?? '') ? call : undefined;
      },
      20_000,
      'the redriven call to fail again',
    );
    assert.match(again.lastError ?? '', /"sawAuthorization":false,"sawCookie":false/);
    const letter = await asAdmin(`/system/dead-letters/${picky}`);
    assert.equal(
      letter.json<{ request: { headers: Record<string, string> } }>().request.headers['x-marker'],
      MARKER,
    );
    assertNoSecret(await everythingInRedis(), 'Redis after the redrive');
  });

  it('masks a credential an older dead letter still holds (stored before they were dropped)', async () => {
    // As a gateway before this change left it: the entry's JSON with the caller's Authorization.
    const key = (await raw.client.keys(`*:dlq:entry:${keyed}`))[0] as string;
    const entry = JSON.parse((await raw.client.hget(key, 'entry')) as string);
    entry.request.headers.authorization = SECRETS.authorization;
    delete entry.request.removedHeaders;
    await raw.client.hset(key, 'entry', JSON.stringify(entry));

    const detail = await asAdmin(`/system/dead-letters/${keyed}`);
    assert.equal(
      detail.json<{ request: { headers: Record<string, string> } }>().request.headers.authorization,
      '***',
    );
    const list = await asAdmin('/system/dead-letters');
    for (const text of [detail.text, list.text]) assertNoSecret(text, 'an admin answer on an older entry');
  });

  it('disturbs nothing else: a plain async call still runs and succeeds', async () => {
    const id = await queue('login', {});
    assert.equal((await callReaches(platform.url, id, 'succeeded')).result?.body, 'welcome');
  });
});
