import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { admin } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/**
 * Runs for 2.5 s, or until its call is cancelled (ctx.signal); GET lists its runs with their
 * start and end times and whether they were cancelled.
 */
const SLOW = `const runs = [];
export default async (event, ctx) => {
  if (event.method === 'GET') return { runs };
  const run = { tick: Date.parse(event.cloudEvent?.time ?? ''), start: Date.now(), pid: process.pid };
  runs.push(run);
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, Number(process.env.RUN_MS));
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      run.cancelled = true;
      resolve();
    });
  });
  run.end = Date.now();
  return { ok: true };
};`;

interface RunView {
  pid: number;
  tick: number;
  start: number;
  end?: number;
  cancelled?: boolean;
}

const fn = (name: string, cron: string, policy: string, runMs: number) =>
  inlineFunction(
    name,
    SLOW,
    `env:\n  - name: RUN_MS\n    value: "${runMs}"\nscale:\n  min: 1\n  max: 1\ntriggers:\n  - schedule:\n      cron: "${cron}"\n      concurrencyPolicy: ${policy}`,
  );

/**
 * Issue 11 item 11: overlapping runs of a slow scheduled function. Attack: an every-second
 * schedule of a function that takes 2.5 s, served by two gateways sharing one Redis (each with
 * its own replicas). Forbid: no two runs overlap, whichever gateway fires them, and the skipped
 * ticks are counted and logged. Replace: the running call is cancelled (its ctx.signal aborts)
 * and the new tick runs.
 */
describe('security: cron concurrencyPolicy holds across two gateways on one Redis', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let dir: string;
  const platforms: LocalModeProcess[] = [];

  before(async () => {
    redis = await startRedisServer();
    dir = await functionsFolder({
      'forbid.yaml': fn('forbid', '* * * * * *', 'Forbid', 2_500),
      'replace.yaml': fn('replace', '*/2 * * * * *', 'Replace', 30_000),
    });
    for (let i = 0; i < 2; i++)
      platforms.push(
        await LocalModeProcess.start(dir, {
          NIMBUS_REDIS_URL: redis.url,
          NIMBUS_WARM_POOL_SIZE: '0',
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

  /** Every run of a function, over both gateways' replicas, oldest first. */
  const runsOf = async (name: string): Promise<RunView[]> => {
    const all: RunView[] = [];
    for (const p of platforms) {
      const reply = await send(p.url, `/function/${name}`);
      if (reply.status === 200) all.push(...reply.json<{ runs: RunView[] }>().runs);
    }
    return all.sort((a, b) => a.start - b.start);
  };

  const ticksCounted = async (result: string): Promise<number> => {
    let total = 0;
    for (const p of platforms) {
      const reply = await send(p.url, '/metrics', { headers: admin });
      const line = reply.text
        .split('\n')
        .find((l) => l.startsWith(`nimbus_schedule_ticks_total{result="${result}"}`));
      total += line === undefined ? 0 : Number(line.split(' ').pop());
    }
    return total;
  };

  it('Forbid: runs of a 2.5 s function ticked every second never overlap; the skipped ticks are counted and logged', async () => {
    const runs = await eventually(
      async () => {
        const all = await runsOf('forbid');
        // Runs on both gateways' replicas: the lease is what keeps them apart, not one process.
        const both = new Set(all.map((r) => r.pid)).size === 2;
        return both && all.filter((r) => r.end !== undefined).length >= 3 ? all : undefined;
      },
      60_000,
      'three finished runs of forbid, on both gateways',
    );
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1] as RunView;
      const next = runs[i] as RunView;
      assert.ok(
        previous.end !== undefined && next.start >= previous.end,
        `the run of ${new Date(next.tick).toISOString()} started while the one of ${new Date(previous.tick).toISOString()} ran: ${JSON.stringify(runs)}`,
      );
    }
    assert.ok((await ticksCounted('skipped')) >= 2, 'the skipped ticks are counted');
    assert.ok(
      platforms.some((p) =>
        p.logs.some(
          (l) =>
            typeof l.msg === 'string' &&
            l.msg.startsWith('cron tick skipped') &&
            l.schedule === 'default/forbid#0',
        ),
      ),
      'a skipped tick is logged',
    );
  });

  it('Replace: the next tick cancels the running call (its ctx.signal aborts) and runs', async () => {
    const runs = await eventually(
      async () => {
        const all = await runsOf('replace');
        return all.filter((r) => r.cancelled).length >= 2 ? all : undefined;
      },
      60_000,
      'two cancelled runs of replace',
    );
    for (const [i, run] of runs.entries()) {
      if (!run.cancelled) continue;
      const next = runs[i + 1];
      assert.ok(next !== undefined && next.tick > run.tick, 'a later tick ran after the cancelled one');
      // Cancelled when the next tick came: at once on the same gateway, within a lease renewal (1 s) on the other.
      assert.ok(
        run.end !== undefined && run.end - next.start < 2_500,
        `the run of ${new Date(run.tick).toISOString()} ended ${(run.end ?? 0) - next.start} ms after the next began`,
      );
      assert.ok((run.end ?? 0) - run.start < 10_000, 'it did not run to its own end (30 s)');
    }
    assert.ok((await ticksCounted('replaced')) >= 2, 'the replacements are counted');
    // The forbid schedule, on the same gateways, was undisturbed: it kept running.
    assert.ok((await runsOf('forbid')).length >= 3);
  });
});
