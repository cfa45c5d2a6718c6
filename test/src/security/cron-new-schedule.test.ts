import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/**
 * Appends the tick time of each CloudEvent it receives to the file TICK_LOG names: every replica,
 * of every revision and gateway, writes to the same file, so a tick is seen whichever replica
 * got it (one replaced by a redeploy included).
 */
const RECORDER = `import { appendFileSync } from 'node:fs';
export default async (event) => {
  if (event.method === 'GET') return { ok: true };
  appendFileSync(process.env.TICK_LOG, Date.parse(event.cloudEvent?.time ?? '') + '\\n');
  return { ok: true };
};`;

const spec = (log: string, schedule: boolean) =>
  `env:\n  - name: TICK_LOG\n    value: ${log}\nscale:\n  min: 1\n  max: 1${
    schedule ? '\ntriggers:\n  - schedule:\n      cron: "* * * * * *"' : ''
  }`;

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
  let tickLog: string;

  before(async () => {
    redis = await startRedisServer();
    tickLog = join(await mkdtemp(join(tmpdir(), 'nimbus-ticks-')), 'ticks.log');
    await writeFile(tickLog, '');
    dir = await functionsFolder({ 'ticker.yaml': inlineFunction('ticker', RECORDER, spec(tickLog, false)) });
  });

  after(async function () {
    this.timeout(30_000);
    await platform?.stop();
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    if (tickLog !== undefined) await rm(join(tickLog, '..'), { recursive: true, force: true });
  });

  /** Every tick any replica received so far. */
  const ticks = async (): Promise<number[]> =>
    (await readFile(tickLog, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);

  it('a schedule added to a running function starts at the next second: no tick from before it was written', async () => {
    platform = await LocalModeProcess.start(dir, ENV(redis, 'gateway-a'));
    // The function is up and answering before its schedule exists: a replayed tick would reach it.
    await eventually(
      async () =>
        (await send((platform as LocalModeProcess).url, '/function/ticker')).status === 200
          ? true
          : undefined,
      30_000,
      'ticker to answer',
    );
    const written = Date.now();
    await writeFile(join(dir, 'ticker.yaml'), inlineFunction('ticker', RECORDER, spec(tickLog, true)));
    const seen = await eventually(
      async () => {
        const all = await ticks();
        return all.length >= 3 ? all : undefined;
      },
      30_000,
      'three ticks',
    );
    const checkedAt = Date.now();
    assert.ok(
      seen.every((t) => t > written),
      `a tick from before the schedule was written fired: ${seen.map((t) => new Date(t).toISOString())}`,
    );
    // One a second at most since the file was written: a replayed minute would be ~60 at once.
    assert.ok(
      seen.length <= Math.ceil((checkedAt - written) / 1000),
      `${seen.length} ticks within ${checkedAt - written} ms`,
    );
    assert.equal(new Set(seen).size, seen.length, 'no tick twice');
  });

  it('a gateway restarted on the same Redis after a 4 s gap fires at most the one tick it missed', async () => {
    await (platform as LocalModeProcess).stop();
    platform = undefined;
    const stopped = Date.now();
    const before = (await ticks()).length;
    // A gap of a few seconds with no gateway: real time must pass for ticks to be missed.
    await eventually(async () => (Date.now() - stopped >= 4_000 ? true : undefined), 10_000, 'a 4 s gap');
    const restarted = Date.now();
    platform = await LocalModeProcess.start(dir, ENV(redis, 'gateway-b'));
    const all = await eventually(
      async () => {
        const seen = await ticks();
        return seen.some((t) => t > restarted + 1_000) ? seen : undefined;
      },
      30_000,
      'a tick after the restart',
    );
    const afterRestart = all.slice(before);
    const fromTheGap = afterRestart.filter((t) => t <= restarted);
    assert.ok(
      fromTheGap.length <= 1,
      `ticks from the gap fired after the restart: ${fromTheGap.map((t) => new Date(t).toISOString())}`,
    );
    assert.ok(
      afterRestart.every((t) => t > stopped - 2_000),
      'nothing from before the gap was replayed',
    );
    assert.equal(new Set(all).size, all.length, 'no tick twice, before or after the restart');
  });
});
