import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type RedisServer, send, startRedisServer } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const LIMITED_KEY = 'limited-key-0123456789abcdef';
const BURST = 6;

/**
 * Issue 11 item 12: per-key rate limits, shared across gateway replicas. Attack: a key limited
 * to 0.2 calls a second with a burst of 6 spreads its calls over two gateways sharing one
 * redis-server, hoping each counts on its own (12 would get through). Together they admit the
 * burst; the rest are 429. Another key, without a limit, is untouched.
 */
describe('security: a key rate limit holds across two gateways sharing one Redis', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let dir: string;
  const platforms: LocalModeProcess[] = [];

  before(async () => {
    redis = await startRedisServer();
    dir = await functionsFolder({
      'work.yaml': inlineFunction(
        'work',
        'export default async () => ({ ok: true });',
        'scale:\n  min: 1\n  max: 1\nhttp:\n  auth: key',
      ),
    });
    for (let i = 0; i < 2; i++)
      platforms.push(
        await LocalModeProcess.start(dir, {
          NIMBUS_REDIS_URL: redis.url,
          NIMBUS_WARM_POOL_SIZE: '0',
          NIMBUS_API_KEYS: `admin:${ADMIN_KEY},invoke:${LIMITED_KEY};rate=0.2/${BURST}`,
          POD_NAME: `gateway-${i}`,
        }),
      );
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(platforms.map((p) => p.stop()));
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('calls alternating between the gateways get the burst once between them, then 429', async () => {
    const limited = { authorization: `Bearer ${LIMITED_KEY}` };
    // Both gateways have the function up before the count starts.
    for (const p of platforms)
      assert.equal(
        (await send(p.url, '/function/work', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status,
        200,
      );
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 2 * BURST + 4; i++)
      statuses.push(
        (await send((platforms[i % 2] as LocalModeProcess).url, '/function/work', { headers: limited }))
          .status,
      );
    const seconds = (Date.now() - started) / 1000;
    const admitted = statuses.filter((s) => s === 200).length;
    assert.ok(
      admitted >= BURST && admitted <= BURST + Math.ceil(seconds * 0.2),
      `${admitted} admitted in ${seconds} s: ${statuses}`,
    );
    assert.deepEqual(
      new Set(statuses.slice(admitted)),
      new Set([429]),
      `after the burst only 429: ${statuses}`,
    );
    const refused = await send((platforms[1] as LocalModeProcess).url, '/function/work', {
      headers: limited,
    });
    assert.equal(refused.status, 429);
    assert.equal(refused.json<{ limit: { scope: string } }>().limit.scope, 'key');
    assert.ok(!refused.text.includes(LIMITED_KEY), 'the refusal never shows the key');
  });

  it('a key without a limit is untouched by another key being limited', async () => {
    for (const p of platforms)
      for (let i = 0; i < 10; i++)
        assert.equal(
          (await send(p.url, '/function/work', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status,
          200,
        );
  });
});
