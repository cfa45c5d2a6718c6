import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/** Keeps the tick time of each CloudEvent it receives; GET lists them. */
const RECORDER = `const ticks = [];
export default async (event) => {
  if (event.method === 'GET') return { ticks };
  ticks.push(Date.parse(event.cloudEvent?.time ?? ''));
  return { ok: true };
};`;

const TICKER = inlineFunction(
  'ticker',
  RECORDER,
  'scale:\n  min: 1\n  max: 1\ntriggers:\n  - schedule:\n      cron: "* * * * * *"',
);

const ENV = (redis: RedisServer, pod: string) => ({
  NIMBUS_REDIS_URL: redis.url,
  NIMBUS_WARM_POOL_SIZE: '0',
  POD_NAME: pod,
});

/**
 * Issue 11 item 11: a new every-second schedule replayed the last minute of ticks at once (74
 * invocations of a 30 s function in 14 s). Attack: add such a schedule to a running gateway, and
 * restart the gateway under it; no tick from before the schedule was first seen may fire, and a
 * restart may add at most the one tick it missed.
 */
describe('security: a new cron schedule fires from now, with no burst of past ticks', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let dir: string;
  let platform: LocalModeProcess | undefined;

  before(async () => {
    redis = await startRedisServer();
    dir = await functionsFolder({});
  });

  after(async function () {
    this.timeout(30_000);
    await platform?.stop();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const ticksOf = async (p: LocalModeProcess): Promise<number[]> => {
    const reply = await send(p.url, '/function/ticker');
    return reply.status === 200 ? reply.json<{ ticks: number[] }>().ticks : [];
  };

  it('a schedule added to a running gateway starts at the next second: no tick from before it was written', async () => {
    platform = await LocalModeProcess.start(dir, ENV(redis, 'gateway-a'));
    const written = Date.now();
    await writeFile(join(dir, 'ticker.yaml'), TICKER);
    const ticks = await eventually(
      async () => {
        const seen = await ticksOf(platform as LocalModeProcess);
        return seen.length >= 3 ? seen : undefined;
      },
      30_000,
      'three ticks',
    );
    const checkedAt = Date.now();
    assert.ok(
      ticks.every((t) => t > written),
      `a tick from before the schedule was written fired: ${ticks.map((t) => new Date(t).toISOString())}`,
    );
    // One a second at most since the file was written: a replayed minute would be ~60 at once.
    assert.ok(
      ticks.length <= Math.ceil((checkedAt - written) / 1000),
      `${ticks.length} ticks within ${checkedAt - written} ms`,
    );
    assert.equal(new Set(ticks).size, ticks.length, 'no tick twice');
  });

  it('a gateway restarted on the same Redis after a 4 s gap fires at most the one tick it missed', async () => {
    await (platform as LocalModeProcess).stop();
    platform = undefined;
    const stopped = Date.now();
    // A gap of a few seconds with no gateway: real time must pass for ticks to be missed.
    await eventually(async () => (Date.now() - stopped >= 4_000 ? true : undefined), 10_000, 'a 4 s gap');
    const restarted = Date.now();
    platform = await LocalModeProcess.start(dir, ENV(redis, 'gateway-b'));
    const ticks = await eventually(
      async () => {
        const seen = await ticksOf(platform as LocalModeProcess);
        return seen.some((t) => t > restarted + 1_000) ? seen : undefined;
      },
      30_000,
      'a tick after the restart',
    );
    const fromTheGap = ticks.filter((t) => t <= restarted);
    assert.ok(
      fromTheGap.length <= 1,
      `ticks from the gap fired after the restart: ${fromTheGap.map((t) => new Date(t).toISOString())}`,
    );
    assert.ok(
      ticks.every((t) => t > stopped - 2_000),
      'nothing from before the gap was replayed',
    );
    assert.equal(new Set(ticks).size, ticks.length, 'no tick twice');
  });
});
