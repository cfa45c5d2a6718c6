import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import {
  type NatsServer,
  type RedisServer,
  type Reply,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { CallbackReceiver, admin, callReaches, callRecord, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

/*
 * Issue 11 item 9, "Call ids without owners", as an attacker tries it against local mode with a
 * real Redis and NATS JetStream: knowing a call's id must be enough neither to cancel it nor to
 * read where its callback goes.
 */

/**
 * `?wait=1` holds its call until `?open=1` (a sync call) lets it go; `?ran=1` lists the jobs that
 * ran. With NIMBUS_ASYNC_CONCURRENCY=1, a held call keeps every other async call queued.
 */
const GATE = `let open;
let opened = new Promise((resolve) => { open = resolve; });
const ran = [];
export default async (event) => {
  if (event.query.open) {
    open();
    opened = new Promise((resolve) => { open = resolve; });
    return { opened: true };
  }
  if (event.query.ran) return { ran };
  if (event.query.wait) await opened;
  if (event.query.job) ran.push(event.query.job);
  return { job: event.query.job ?? null };
};`;

const FIXTURES = {
  'gate.yaml': inlineFunction('gate', GATE, 'timeout: 30s\nconcurrency: 8\nscale:\n  min: 1\n  max: 1'),
};

/** A secret only the victim knows, in its callback URL's query (userinfo is refused at the door). */
const SECRET = 'victim-secret-7c1f0a';

describe('security: a call id alone neither cancels a call nor shows its callback URL', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CallbackReceiver;
  /** Every answer a caller without the admin key got, to search for the secret. */
  const publicAnswers: Reply[] = [];

  const asPublic = async (reply: Promise<Reply>): Promise<Reply> => {
    const got = await reply;
    publicAnswers.push(got);
    return got;
  };
  const queue = async (path: string, headers: Record<string, string> = {}) => {
    const reply = await asPublic(postAsync(platform.url, path, headers));
    assert.equal(reply.status, 202, reply.text);
    const token = String(reply.headers['x-cancel-token']);
    assert.equal(reply.json().cancelToken, token, 'the token is in the header and the body');
    return { id: String(reply.headers['x-call-id']), token };
  };
  const cancel = (id: string, headers: Record<string, string>) =>
    asPublic(send(platform.url, `/async-function/${id}`, { method: 'DELETE', headers }));
  const openGate = async () => assert.equal((await send(platform.url, '/function/gate?open=1')).status, 200);
  const ran = async () => (await send(platform.url, '/function/gate?ran=1')).json<{ ran: string[] }>().ran;

  before(async () => {
    [redis, nats] = await Promise.all([startRedisServer(), startNatsServer()]);
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_ASYNC_CONCURRENCY: '1',
    });
    hooks = await CallbackReceiver.start();
    await eventually(
      async () => ((await send(platform.url, '/function/gate?ran=1')).status === 200 ? true : undefined),
      20_000,
      'gate to have a ready replica',
    );
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("refuses to cancel someone else's call without its token (401) or with a wrong one (403); it still runs", async () => {
    const victimHook = `${hooks.url}?sig=${SECRET}`;
    const blocker = await queue('gate?wait=1&job=blocker');
    await callReaches(platform.url, blocker.id, 'running');
    const victim = await queue('gate?job=victim', { 'x-callback-url': victimHook });
    const mine = await queue('gate?job=attacker');

    const bare = await cancel(victim.id, {});
    assert.equal(bare.status, 401, bare.text);
    assert.match(String(bare.headers['content-type']), /application\/json/);
    assert.equal(bare.json().code, 'CancelTokenRequired');
    const attempts: [string, Record<string, string>, number, string][] = [
      ['a guessed token', { 'x-cancel-token': 'A'.repeat(43) }, 403, 'CancelTokenInvalid'],
      ["the attacker's own call's token", { 'x-cancel-token': mine.token }, 403, 'CancelTokenInvalid'],
      ['an invoke key', { authorization: `Bearer ${INVOKE_KEY}` }, 403, 'Forbidden'],
      ['a made-up key', { authorization: 'Bearer not-a-key' }, 401, 'Unauthenticated'],
    ];
    for (const [what, headers, status, code] of attempts) {
      const refused = await cancel(victim.id, headers);
      assert.equal(refused.status, status, `${what}: ${refused.text}`);
      assert.equal(refused.json().code, code, what);
    }
    assert.equal((await callRecord(platform.url, victim.id))?.status, 'queued', 'the victim is untouched');

    await openGate();
    const done = await callReaches(platform.url, victim.id, 'succeeded');
    assert.equal(done.attempts, 1);
    await eventually(() => hooks.byId.get(victim.id), 10_000, "the victim's callback");
    await callReaches(platform.url, mine.id, 'succeeded');
    assert.deepEqual(await ran(), ['blocker', 'victim', 'attacker'], 'every call ran, once');
  });

  it('cancels with the right token or the admin key; the cancelled calls never run', async () => {
    const blocker = await queue('gate?wait=1&job=blocker-2');
    await callReaches(platform.url, blocker.id, 'running');
    const byToken = await queue('gate?job=by-token', { 'x-callback-url': `${hooks.url}?sig=${SECRET}` });
    const byAdmin = await queue('gate?job=by-admin');

    const withToken = await cancel(byToken.id, { 'x-cancel-token': byToken.token });
    assert.equal(withToken.status, 200, withToken.text);
    assert.equal(withToken.json().status, 'cancelled');
    const withAdmin = await send(platform.url, `/async-function/${byAdmin.id}`, {
      method: 'DELETE',
      headers: admin,
    });
    assert.equal(withAdmin.status, 200, withAdmin.text);
    assert.equal(withAdmin.json().status, 'cancelled');
    const again = await cancel(byToken.id, { 'x-cancel-token': byToken.token });
    assert.equal(again.status, 409, 'a cancelled call cannot be cancelled again');

    await openGate();
    await callReaches(platform.url, blocker.id, 'succeeded');
    const next = await queue('gate?job=after');
    await callReaches(platform.url, next.id, 'succeeded');
    const jobs = await ran();
    assert.ok(!jobs.includes('by-token') && !jobs.includes('by-admin'), jobs.join(', '));
    assert.equal((await callRecord(platform.url, byToken.id))?.status, 'cancelled');
  });

  it('shows no caller without the admin key a callback URL; the admin API shows it masked', async () => {
    assert.ok(publicAnswers.length >= 10);
    for (const reply of publicAnswers) {
      const everything = `${JSON.stringify(reply.headers)}\n${reply.text}`;
      assert.ok(!everything.includes(SECRET), `a public answer shows the secret: ${everything}`);
      assert.ok(!everything.includes(hooks.url), `a public answer shows the callback URL: ${everything}`);
    }
    const ids = publicAnswers.filter((r) => r.status === 202).map((r) => String(r.headers['x-call-id']));
    let masked = 0;
    for (const id of ids) {
      const reply = await send(platform.url, `/system/calls/${id}`, { headers: admin });
      assert.ok(!reply.text.includes(SECRET), `the admin API shows the secret: ${reply.text}`);
      assert.ok(!reply.text.includes('cancelTokenHash'));
      const url = reply.json<{ callbackUrl?: string }>().callbackUrl;
      if (url !== undefined) {
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/callback\?sig=\*\*\*$/);
        masked++;
      }
    }
    assert.equal(masked, 2, 'both calls with a callback show where it goes');
    const unauthenticated = await send(platform.url, `/system/calls/${ids[0]}`);
    assert.equal(unauthenticated.status, 401, 'and the record needs the admin key');
  });
});
