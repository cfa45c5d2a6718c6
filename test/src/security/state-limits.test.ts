import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { type RedisStores, createRedisStores, stateToken } from '@nimbus/store';
import { type RedisServer, send, startRedisServer } from '@nimbus/testkit';
import type { RuntimeReplica } from '../harness/runtime-replica.js';
import {
  STATE_KEY,
  type StateGateway,
  fnResource,
  startStateGateway,
  startStateReplica,
} from './state-fixture.js';

const ADMIN_PASSWORD = 'admin-password-of-this-redis-0123';
const MiB = 1024 * 1024;

/**
 * Attacks by a function on the shared Redis, against real processes: a redis-server set up as the
 * chart runs it (a password for the platform, none for functions), a real gateway with its state
 * service, and runtime replicas running the attacker's code with only their own token.
 */
describe('security: a function cannot stall, fill or cross into the shared state store', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let admin: RedisStores;
  let gw: StateGateway;
  let alpha: RuntimeReplica;
  let beta: RuntimeReplica;
  const call = (replica: RuntimeReplica, path: string) =>
    send(`http://127.0.0.1:${replica.port}`, path, { timeoutMs: 30_000 });
  const betaKey = (key: string) => `nimbus:state:team:beta:${key}`;

  before(async () => {
    redis = await startRedisServer({ args: ['--requirepass', ADMIN_PASSWORD] });
    const adminUrl = `redis://:${ADMIN_PASSWORD}@127.0.0.1:${redis.port}`;
    admin = createRedisStores(adminUrl);
    gw = await startStateGateway(adminUrl, [
      fnResource('alpha', { enabled: true }),
      fnResource('beta', { enabled: true, maxKeys: 5, maxBytes: 4096 }),
      fnResource('stateless', { enabled: false }),
    ]);
    [alpha, beta] = await Promise.all([
      startStateReplica(gw.stateUrl, 'alpha'),
      startStateReplica(gw.stateUrl, 'beta'),
    ]);
  });
  after(async () => {
    await Promise.all([alpha?.stop(), beta?.stop()]);
    await gw?.close();
    await admin?.close();
    await redis?.stop();
  });

  it('refuses a Lua busy loop: the function has no Redis login and no script rights, and Redis stays responsive for everyone', async () => {
    const attack = await call(alpha, `/redis?port=${redis.port}`);
    assert.equal(attack.status, 200, attack.text);
    const { replies, ms } = attack.json<{ replies: string[]; ms: number }>();
    assert.equal(replies.length, 3, JSON.stringify(replies));
    for (const reply of replies)
      assert.match(reply, /^-NOAUTH/, 'EVAL, SCRIPT KILL and CONFIG SET all refused');
    assert.ok(ms < 2000, `the refusals came in ${ms} ms`);

    // Nor is there a way through the state service: it knows five operations and nothing else.
    for (const op of ['eval', 'evalsha', 'fcall', 'call', 'script']) {
      const raw = (await call(alpha, `/raw?op=${op}&as=team/alpha&token=own`)).json<{
        status: number;
        body: { error: string };
      }>();
      assert.equal(raw.status, 404, op);
      assert.match(raw.body.error, /POST \/v1\/state\/\{get\|set\|delete\|incr\|compareAndSet\}/);
    }

    const started = Date.now();
    assert.equal(await admin.connection.run('ping', (c) => c.ping()), 'PONG');
    const other = await call(beta, '/incr?key=after-attack');
    assert.deepEqual(other.json(), { value: 1 });
    assert.ok(Date.now() - started < 1000, 'Redis and another function answer at once');
  });

  it('refuses a 20 MiB value with a clear 413, through ctx.state and by hand, and stores nothing', async () => {
    const viaState = await call(alpha, `/set?key=big&size=${20 * MiB}`);
    assert.equal(viaState.status, 413, viaState.text.slice(0, 200));
    assert.equal(viaState.json().code, 'StateValueTooLarge');
    assert.match(String(viaState.json().error), /20971522 bytes as JSON, over the limit of 65536 bytes/);
    assert.equal(viaState.json().limit, 65536);

    // Past the runtime's own check: a hand-made request to the state service with the function's token.
    const raw = await call(alpha, `/raw?op=set&as=team/alpha&token=own&size=${20 * MiB}`);
    const answer = raw.json<{ status: number; body: { error: string; code: string; limit: number } }>();
    assert.equal(answer.status, 413, JSON.stringify(answer));
    assert.equal(answer.body.code, 'StateValueTooLargeError');
    assert.match(
      answer.body.error,
      /state value is too large: the request is \d+ bytes, the value limit is 65536 bytes/,
    );
    assert.equal(answer.body.limit, 65536);

    const exists = await admin.connection.run('exists', (c) => c.exists('nimbus:state:team:alpha:big'));
    assert.equal(exists, 0, 'nothing stored');
    assert.deepEqual((await call(alpha, '/ping')).json(), { pong: true }, 'the replica lives on');
    assert.equal((await send(gw.publicUrl, '/healthz')).status, 200, 'so does the gateway');
  });

  it('refuses a write past the function quota (keys, then bytes), naming the quota, by ctx.state and by hand', async () => {
    // beta: maxKeys 5, maxBytes 4096; it already holds after-attack.
    for (let i = 1; i < 5; i++) assert.equal((await call(beta, `/incr?key=k${i}`)).status, 200);
    const refused = await call(beta, '/incr?key=k5');
    assert.equal(refused.status, 507, refused.text);
    assert.equal(refused.json().code, 'StateQuotaExceeded');
    assert.match(
      String(refused.json().error),
      /quota maxKeys is reached: this write would make 6 keys, the limit is 5/,
    );
    const raw = (await call(beta, '/raw?op=set&as=team/beta&token=own&key=k6')).json<{
      status: number;
      body: { code: string };
    }>();
    assert.equal(raw.status, 507);
    assert.equal(raw.body.code, 'StateQuotaExceededError');
    assert.equal(await admin.connection.run('exists', (c) => c.exists(betaKey('k5'), betaKey('k6'))), 0);

    // Room for keys again, but not for bytes: 4 x 1200-byte values would pass 4096.
    for (let i = 1; i < 5; i++) assert.equal((await call(beta, `/delete?key=k${i}`)).status, 200);
    for (let i = 1; i <= 3; i++) assert.equal((await call(beta, `/set?key=v${i}&size=1200`)).status, 200);
    const full = await call(beta, '/set?key=v4&size=1200');
    assert.equal(full.status, 507, full.text);
    assert.match(
      String(full.json().error),
      /quota maxBytes is reached: this write would make \d+ bytes, the limit is 4096/,
    );
    assert.deepEqual(await admin.state.usage('team', 'beta'), {
      keys: 4,
      bytes: 'after-attack'.length + 1 + 3 * (2 + 1202),
    });
    assert.deepEqual(
      (await call(alpha, '/incr?key=unbothered')).json(),
      { value: 1 },
      'other functions unaffected',
    );
    // Operators see the refusals.
    const counted = (await gw.registry.getSingleMetric('nimbus_state_requests_total')?.get())?.values ?? [];
    const quotaRefusals = (op: string) =>
      counted.find((v) => v.labels.op === op && v.labels.code === 'StateQuotaExceededError')?.value ?? 0;
    assert.ok(quotaRefusals('set') >= 2 && quotaRefusals('incr') >= 1, JSON.stringify(counted));
  });

  it("refuses one function's token for another function, and forged tokens, and keeps keys inside the own prefix", async () => {
    await admin.state.scoped('team', 'beta').set('secret', 'beta only');
    const forgedWithWrongKey = createHmac('sha256', 'not-the-state-key-0123456789-abcdef')
      .update('nimbus-state-v1:team/beta')
      .digest('base64url');
    const attempts: [string, string][] = [
      ["alpha's own token, claiming to be beta", 'token=own&as=team/beta'],
      ['no token', 'as=team/beta'],
      ['a token of the right shape under another key', `token=${forgedWithWrongKey}&as=team/beta`],
      ["beta's name as the token", 'token=beta&as=team/beta'],
      ["alpha's token for beta in another namespace", 'token=own&as=other/beta'],
    ];
    for (const [what, query] of attempts)
      for (const op of ['get', 'set', 'delete', 'incr', 'compareAndSet']) {
        const raw = (await call(alpha, `/raw?op=${op}&key=secret&${query}`)).json<{
          status: number;
          body: { code: string; error: string };
        }>();
        assert.equal(raw.status, 401, `${what}, ${op}: ${JSON.stringify(raw)}`);
        assert.equal(raw.body.code, 'InvalidStateToken');
      }
    // A function without state, even with a valid token (leaked, say), is refused.
    const stateless = stateToken(STATE_KEY, 'team', 'stateless');
    const off = (await call(alpha, `/raw?op=get&key=k&token=${stateless}&as=team/stateless`)).json<{
      status: number;
      body: { error: string };
    }>();
    assert.equal(off.status, 403);
    assert.match(off.body.error, /function state is not enabled for team\/stateless/);
    // Keys that look like paths or prefixes stay inside alpha's own key space.
    for (const key of ['../beta:secret', 'team:beta:secret', '*', 'nimbus:state:team:beta:secret']) {
      const read = await call(alpha, `/get?key=${encodeURIComponent(key)}`);
      assert.deepEqual(read.json(), { value: null }, key);
    }
    const rawGet = (await call(alpha, '/raw?op=get&as=team/alpha&token=own&key=secret')).json<{
      status: number;
      body: unknown;
    }>();
    assert.deepEqual(rawGet, { status: 200, body: {} }, "alpha's own key space has no secret");
    assert.equal(
      await admin.connection.run('hget', (c) => c.hget(betaKey('secret'), 'v')),
      '"beta only"',
      "beta's key untouched",
    );
  });
});
