import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { secretEnvName } from '@nimbus/gateway';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { deadLetterOfEvent } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';
import { standardWebhookHeaders } from '../harness/standard-webhook.js';

/** Keeps the CloudEvents it receives; GET lists them. A body with "fail" makes it answer 500. */
const RECORDER = `const seen = [];
export default async (event) => {
  if (event.method === 'GET') return { seen };
  const ce = event.cloudEvent;
  seen.push({ id: ce?.id, type: ce?.type, source: ce?.source, subject: ce?.subject, time: ce?.time, data: ce?.data });
  if (ce?.data && ce.data.fail) return { statusCode: 500, body: 'cannot take this one' };
  return { ok: true };
};`;

interface Seen {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  data: unknown;
}

const STANDARD_SECRET = `whsec_${Buffer.from('a-signing-key-of-the-sender').toString('base64')}`;
const GITHUB_SECRET = 'github-shared-secret';

const hook = (name: string, secret: string, extra: string) =>
  `  - name: ${name}\n    webhook:\n      secret: { name: ${secret}, key: key }\n${extra}`;

const FIXTURES = {
  // concurrency 1: deliveries in the order stored, so a later event shows that an earlier one is done.
  'hooks.yaml': inlineFunction(
    'hooks',
    RECORDER,
    `scale:\n  min: 1\n  max: 1\ntriggers:\n${hook('in', 'hook-secret', '      concurrency: 1\n      maxDeliver: 2\n      backoff: [1s]')}`,
  ),
  'github.yaml': inlineFunction(
    'github',
    RECORDER,
    `scale:\n  min: 0\n  max: 1\ntriggers:\n${hook('push', 'gh-secret', '      signature: github')}`,
  ),
  'unset.yaml': inlineFunction(
    'unset',
    RECORDER,
    `scale:\n  min: 1\n  max: 1\ntriggers:\n${hook('in', 'no-such-secret', '')}`,
  ),
};

const standardHeaders = (id: string, body: string, at?: number) =>
  standardWebhookHeaders(STANDARD_SECRET, id, body, at);

describe('webhooks end to end: a signed POST is stored, answered 202, and delivered to the function', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let nats: SecuredNats;
  let dir: string;
  let platform: LocalModeProcess;

  before(async () => {
    redis = await startRedisServer();
    nats = await startSecuredNats();
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
      [secretEnvName('hook-secret', 'key')]: STANDARD_SECRET,
      [secretEnvName('gh-secret', 'key')]: GITHUB_SECRET,
    });
  });

  after(async function () {
    this.timeout(30_000);
    await platform?.stop();
    await nats?.stop();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: string, headers: Record<string, string>) =>
    send(platform.url, path, { method: 'POST', body, headers });

  /**
   * Posts until the gateway has the trigger and its stream (its folder is read at start, and the
   * stream made at the next pass): meanwhile 404, or 503 with Retry-After, as a sender would retry.
   */
  const accepted = (path: string, body: string, headers: Record<string, string>) =>
    eventually(
      async () => {
        const reply = await post(path, body, headers);
        return reply.status === 404 || reply.json<{ code?: string }>().code === 'NotStored'
          ? undefined
          : reply;
      },
      20_000,
      `${path} to exist`,
    );

  const seenBy = async (fn: string): Promise<Seen[]> => {
    const reply = await send(platform.url, `/function/${fn}`);
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ seen: Seen[] }>().seen;
  };

  const delivered = (fn: string, id: string) =>
    eventually(
      async () => {
        const seen = (await seenBy(fn)).filter((e) => e.id === id);
        return seen.length > 0 ? seen : undefined;
      },
      20_000,
      `${fn} to receive ${id}`,
    );

  it('a Standard Webhooks request becomes one CloudEvent with the sender id, the body as data', async () => {
    const body = '{"order":1}';
    const reply = await accepted('/webhook/default/hooks/in', body, standardHeaders('msg_first', body));
    assert.equal(reply.status, 202, reply.text);
    assert.deepEqual(reply.json(), { accepted: 1, duplicates: 0, ids: ['msg_first'] });
    const [event] = await delivered('hooks', 'msg_first');
    assert.equal(event?.type, 'dev.nimbus.webhook');
    assert.equal(event?.source, '/webhook/default/hooks/in');
    assert.deepEqual(event?.data, { order: 1 });
  });

  it('the same delivery sent again is answered 202 and reaches the function once', async () => {
    const body = '{"order":2}';
    const headers = standardHeaders('msg_twice', body);
    assert.equal((await post('/webhook/default/hooks/in', body, headers)).status, 202);
    await delivered('hooks', 'msg_twice');
    const again = await post('/webhook/default/hooks/in', body, headers);
    assert.equal(again.status, 202, again.text);
    assert.equal(again.json<{ duplicates: number }>().duplicates, 1);
    // Deliveries run one at a time in order: once a later event is in, the replay would be too.
    const after = '{"order":3}';
    await post('/webhook/default/hooks/in', after, standardHeaders('msg_after', after));
    await delivered('hooks', 'msg_after');
    assert.equal((await seenBy('hooks')).filter((e) => e.id === 'msg_twice').length, 1);
  });

  it('attacks: a forged, tampered, stale or unsigned request is refused 401 and nothing reaches the function', async () => {
    const body = '{"order":666}';
    const good = standardHeaders('msg_attack', body);
    const forged = { ...good, 'webhook-signature': `v1,${Buffer.alloc(32, 7).toString('base64')}` };
    const stale = standardHeaders('msg_attack', body, Math.floor(Date.now() / 1000) - 3600);
    const { 'webhook-signature': _, ...unsigned } = good;
    for (const [what, headers, payload, pattern] of [
      ['forged', forged, body, /does not match/],
      ['tampered', good, '{"order":667}', /does not match/],
      ['stale', stale, body, /outside the tolerance/],
      ['unsigned', unsigned, body, /missing/],
    ] as const) {
      const reply = await post('/webhook/default/hooks/in', payload, headers);
      assert.equal(reply.status, 401, `${what}: ${reply.text}`);
      assert.match(reply.json<{ error: string }>().error, pattern, what);
    }
    const sentinel = '{"order":668}';
    await post('/webhook/default/hooks/in', sentinel, standardHeaders('msg_sentinel', sentinel));
    await delivered('hooks', 'msg_sentinel');
    assert.equal((await seenBy('hooks')).filter((e) => e.id === 'msg_attack').length, 0);
  });

  it('a path that names no webhook is 404, a GET 405, an oversized body 413, all as JSON', async () => {
    const body = '{}';
    for (const path of [
      '/webhook/default/hooks/nope',
      '/webhook/default/nobody/in',
      '/webhook/default/hooks/in/../../github/push',
      '/webhook/default/hooks',
      '/webhook/Default/hooks/in',
    ]) {
      const reply = await post(path, body, standardHeaders('msg_x', body));
      assert.equal(reply.status, 404, `${path}: ${reply.text}`);
      assert.equal(reply.json<{ code: string }>().code, 'WebhookNotFound');
    }
    const get = await send(platform.url, '/webhook/default/hooks/in');
    assert.equal(get.status, 405, get.text);
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const big = await post('/webhook/default/hooks/in', huge, standardHeaders('msg_big', huge));
    assert.equal(big.status, 413, big.text.slice(0, 200));
  });

  it('a GitHub delivery wakes a function at zero and carries the event name as subject', async () => {
    const body = '{"ref":"refs/heads/main"}';
    const signature = createHmac('sha256', GITHUB_SECRET).update(body).digest('hex');
    const reply = await accepted('/webhook/default/github/push', body, {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${signature}`,
      'x-github-delivery': 'd9f1c7a0-0000-4000-8000-000000000001',
      'x-github-event': 'push',
    });
    assert.equal(reply.status, 202, reply.text);
    const [event] = await delivered('github', 'd9f1c7a0-0000-4000-8000-000000000001');
    assert.equal(event?.subject, 'push');
    assert.deepEqual(event?.data, { ref: 'refs/heads/main' });
  });

  it('an event the function keeps refusing is dead-lettered after maxDeliver with its last error', async () => {
    const body = '{"fail":true}';
    assert.equal(
      (await post('/webhook/default/hooks/in', body, standardHeaders('msg_poison', body))).status,
      202,
    );
    const letter = await deadLetterOfEvent(platform.url, 'hooks', 'msg_poison', 30_000);
    assert.equal(letter.attempts, 2);
    assert.match(letter.lastError, /500/);
  });

  it('a webhook whose Secret is not there answers 503 without naming it, and says why to the operator', async () => {
    const body = '{}';
    const reply = await accepted('/webhook/default/unset/in', body, standardHeaders('msg_unset', body));
    assert.equal(reply.status, 503, reply.text);
    assert.doesNotMatch(reply.text, /no-such-secret/);
    await eventually(
      () =>
        platform.logs.some(
          (l) => l.msg === 'a pushed trigger cannot check requests' && /no-such-secret/.test(String(l.why)),
        )
          ? true
          : undefined,
      5_000,
      'the reason in the log',
    );
  });
});
