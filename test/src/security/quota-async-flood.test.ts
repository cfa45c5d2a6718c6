import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type RedisServer, type Reply, eventually, send, startRedisServer } from '@nimbus/testkit';
import { admin, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

/** Always fails, so every call that got in ends as a dead letter: the dead letters count what was queued. */
const FAILING = `export default async () => ({ statusCode: 500, body: 'no' });`;
const OK = 'export default async () => ({ ok: true });';

const oneReplica = 'scale:\n  min: 1\n  max: 1';
const BURST = 5;

interface Refusal {
  code: string;
  error: string;
  limit: { scope: string; function: string; requestsPerSecond: number; burst: number };
  retryAfterSeconds: number;
}

/**
 * Issue 11 item 12: a caller with no key could flood async calls, and so dead letters, without
 * limit. Attack: 40 async calls with no key, as fast as they go, at a function limited to 0.2
 * calls a second with a burst of 5. After the burst every call is refused 429 with Retry-After,
 * before anything is queued (the dead letters count exactly the calls that got a 202), and other
 * functions on the same gateway go on undisturbed.
 */
describe('security: rate limits hold against a flood of async calls with no key', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let dir: string;
  let platform: LocalModeProcess;

  before(async () => {
    redis = await startRedisServer();
    dir = await functionsFolder({
      'limited.yaml': inlineFunction(
        'limited',
        FAILING,
        `${oneReplica}\nhttp:\n  rateLimit:\n    requestsPerSecond: 0.2\n    burst: ${BURST}\nasync:\n  maxAttempts: 1`,
      ),
      'guarded.yaml': inlineFunction(
        'guarded',
        OK,
        `${oneReplica}\nhttp:\n  rateLimit:\n    requestsPerSecond: 1000\n    anonymous:\n      requestsPerSecond: 0.2\n      burst: 3`,
      ),
      'free.yaml': inlineFunction('free', OK, oneReplica),
    });
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_WARM_POOL_SIZE: '0',
    });
  });

  after(async function () {
    this.timeout(30_000);
    await platform?.stop();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const deadLetters = async (fn: string): Promise<number> => {
    const reply = await send(
      platform.url,
      `/system/dead-letters?namespace=default&function=${fn}&limit=100`,
      {
        headers: admin,
      },
    );
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ entries: unknown[] }>().entries.length;
  };

  it('40 async calls with no key: the burst gets 202, the rest 429 with Retry-After naming the limit, and only the 202s run', async () => {
    const started = Date.now();
    const replies: Reply[] = await Promise.all(
      Array.from({ length: 40 }, (_, i) => postAsync(platform.url, 'limited', {}, `{"n":${i}}`)),
    );
    const seconds = (Date.now() - started) / 1000;
    const accepted = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status === 429);
    assert.equal(accepted.length + refused.length, 40, `only 202 or 429: ${replies.map((r) => r.status)}`);
    // The burst, and at 0.2 a second at most one more per 5 s the flood lasted.
    assert.ok(
      accepted.length >= BURST && accepted.length <= BURST + Math.ceil(seconds * 0.2),
      `${accepted.length} accepted in ${seconds} s`,
    );
    for (const r of refused) {
      const retryAfter = Number(r.headers['retry-after']);
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 5,
        `Retry-After ${retryAfter}`,
      );
      const body = r.json<Refusal>();
      assert.equal(body.code, 'RateLimited');
      assert.deepEqual(body.limit, {
        scope: 'function',
        function: 'limited.default',
        requestsPerSecond: 0.2,
        burst: BURST,
      });
      assert.equal(body.retryAfterSeconds, retryAfter);
      assert.equal(r.headers['x-call-id'], undefined, 'no call id: nothing was queued');
    }
    // Every accepted call fails once and is dead-lettered; nothing refused ever runs.
    await eventually(
      async () => ((await deadLetters('limited')) >= accepted.length ? true : undefined),
      30_000,
      `${accepted.length} dead letters`,
    );
    assert.equal(await deadLetters('limited'), accepted.length, 'a dead letter for each 202, and no more');
    for (const r of refused.slice(0, 3)) {
      const id = r.json<{ callId?: string }>().callId;
      assert.equal(id, undefined);
    }
  });

  it('the function limit covers the sync path too, while other functions are undisturbed', async () => {
    const sync = await send(platform.url, '/function/limited');
    assert.equal(sync.status, 429, sync.text);
    assert.ok(Number(sync.headers['retry-after']) >= 1);
    for (let i = 0; i < 20; i++) assert.equal((await send(platform.url, '/function/free')).status, 200);
    const queued = await postAsync(platform.url, 'free');
    assert.equal(queued.status, 202, queued.text);
    assert.equal(await deadLetters('free'), 0);
  });

  it('anonymous callers share a tighter limit of their own; a caller with a key is held only to the function limit', async () => {
    const anonymous = [];
    for (let i = 0; i < 6; i++) anonymous.push((await send(platform.url, '/function/guarded')).status);
    assert.deepEqual(anonymous, [200, 200, 200, 429, 429, 429]);
    const refused = await send(platform.url, '/function/guarded');
    assert.equal(refused.json<Refusal>().limit.scope, 'anonymous');
    const async = await postAsync(platform.url, 'guarded');
    assert.equal(async.status, 429, 'the async door applies it too');
    const withKey = { authorization: `Bearer ${INVOKE_KEY}` };
    for (let i = 0; i < 10; i++)
      assert.equal((await send(platform.url, '/function/guarded', { headers: withKey })).status, 200);
  });

  it('counts the refusals by function and by the limit that refused them', async () => {
    const metrics = await send(platform.url, '/metrics', { headers: admin });
    const count = (scope: string, fn: string) =>
      Number(
        metrics.text
          .split('\n')
          .find((l) =>
            l.startsWith(`nimbus_rate_limited_total{function="${fn}",namespace="default",scope="${scope}"}`),
          )
          ?.split(' ')
          .pop() ?? 0,
      );
    assert.ok(count('function', 'limited') >= 36, metrics.text.slice(0, 500));
    assert.ok(count('anonymous', 'guarded') >= 4);
    assert.equal(count('function', 'free'), 0);
  });
});
