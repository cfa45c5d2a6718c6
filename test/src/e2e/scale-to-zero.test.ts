import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess, alive } from '../harness/local-mode-process.js';

interface Listed {
  metadata: { name: string };
  status: { replicas: number; readyReplicas: number; conditions: { type: string; reason?: string }[] };
}

const SLEEP = `export default async (event) => {
  const ms = Number(event.query.ms ?? 0);
  await new Promise((r) => setTimeout(r, ms));
  return { pid: process.pid };
};`;
const sleepy = inlineFunction('sleepy', SLEEP, 'scale:\n  min: 0\n  scaleToZeroAfter: 2s');
// target 1 at the autoscaler's 70% utilisation: each replica is meant to carry 0.7 requests in flight.
const busy = inlineFunction('busy', SLEEP, 'scale:\n  min: 1\n  max: 4\n  target: 1');

describe('local mode scales a function to zero and wakes it on the next request', function () {
  this.timeout(60_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({ 'sleepy.yaml': sleepy, 'busy.yaml': busy });
    platform = await LocalModeProcess.start(dir);
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const status = async (name = 'sleepy') => {
    const reply = await send(platform.url, '/system/functions', {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return reply.json<Listed[]>().find((f) => f.metadata.name === name)?.status;
  };

  it('starts one replica, and stops it after scaleToZeroAfter without traffic', async () => {
    const first = await eventually(
      async () => {
        const reply = await send(platform.url, '/function/sleepy');
        return reply.status === 200 ? reply.json<{ pid: number }>() : undefined;
      },
      10_000,
      'the first answer',
    );
    const zero = await eventually(
      async () => {
        const s = await status();
        return s?.replicas === 0 ? s : undefined;
      },
      15_000,
      'the function to scale to zero',
    );
    assert.equal(zero.conditions.find((c) => c.type === 'Ready')?.reason, 'ScaledToZero');
    await eventually(() => (alive(first.pid) ? undefined : true), 10_000, 'the replica process to exit');
  });

  it('holds the next request, wakes the function, and answers it with X-Nimbus-Cold-Start', async () => {
    // At zero by its own wait: the function starts with one replica, which goes after scaleToZeroAfter.
    await eventually(
      async () => ((await status())?.replicas === 0 ? true : undefined),
      15_000,
      'sleepy at zero before the request',
    );
    const started = Date.now();
    const reply = await send(platform.url, '/function/sleepy');
    const took = Date.now() - started;
    assert.equal(reply.status, 200, reply.body.toString());
    assert.equal(reply.headers['x-nimbus-cold-start'], 'true');
    assert.ok(alive(reply.json<{ pid: number }>().pid), 'served by a new replica');
    assert.ok(took < 5000, `the wake took ${took} ms`);
    assert.equal((await status())?.replicas, 1);
  });

  it('scales out under concurrent load, within scale.max, and loses no request', async () => {
    await eventually(
      async () => ((await status('busy'))?.readyReplicas === 1 ? true : undefined),
      10_000,
      'busy ready',
    );
    const calls = Array.from({ length: 12 }, () => send(platform.url, '/function/busy?ms=1500'));
    const peak = await eventually(
      async () => {
        const s = await status('busy');
        return s !== undefined && s.replicas > 1 ? s.replicas : undefined;
      },
      10_000,
      'more replicas',
    );
    // The first wave is already on the one replica; the next spreads over the new ones.
    await eventually(
      async () => ((await status('busy'))?.readyReplicas ?? 0) > 1 || undefined,
      10_000,
      'a second ready replica',
    );
    const second = await Promise.all(
      Array.from({ length: 8 }, () => send(platform.url, '/function/busy?ms=300')),
    );
    const replies = [...(await Promise.all(calls)), ...second];
    assert.deepEqual(
      replies.map((r) => r.status),
      replies.map(() => 200),
    );
    const firstPids = new Set(replies.slice(0, 12).map((r) => r.json<{ pid: number }>().pid));
    const pids = new Set(replies.map((r) => r.json<{ pid: number }>().pid));
    assert.equal(firstPids.size, 1, 'the first wave met one replica');
    assert.ok(pids.size > 1, 'the second wave went to a new replica');
    assert.ok(peak <= 4 && pids.size <= 4, `never above scale.max: ${peak} replicas, ${pids.size} pids`);
  });
});

// target 2 at 70%: a replica carries 1.4 requests; one caller at a time needs one replica.
const tide = inlineFunction('tide', SLEEP, 'scale:\n  min: 0\n  max: 3\n  target: 2\n  scaleToZeroAfter: 2s');

describe('local mode scales down under steady traffic and loses nothing', function () {
  this.timeout(90_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder({ 'tide.yaml': tide });
    // Windows short enough for test time: the decisions are the same, only sooner.
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_AUTOSCALER_STABLE_WINDOW_MS: '3000',
      NIMBUS_AUTOSCALER_PANIC_WINDOW_MS: '1000',
      NIMBUS_WARM_POOL_SIZE: '0',
    });
  });

  after(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const status = async () => {
    const reply = await send(platform.url, '/system/functions', {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    return reply.json<Listed[]>().find((f) => f.metadata.name === 'tide')?.status;
  };

  it('out to max on a burst, back to one replica while one caller goes on, then to zero: every request answered 200', async () => {
    const burst = Array.from({ length: 8 }, () => send(platform.url, '/function/tide?ms=2000'));
    await eventually(
      async () => ((await status())?.replicas === 3 ? true : undefined),
      15_000,
      'three replicas',
    );
    const burstReplies = await Promise.all(burst);

    const steady: { status: number; pid: number | undefined }[] = [];
    let going = true;
    const caller = (async () => {
      while (going) {
        const reply = await send(platform.url, '/function/tide?ms=20');
        steady.push({
          status: reply.status,
          pid: reply.status === 200 ? reply.json<{ pid: number }>().pid : undefined,
        });
      }
    })();
    try {
      await eventually(
        async () => ((await status())?.replicas === 1 ? true : undefined),
        30_000,
        'back to one replica',
      );
      // A little more traffic on the one replica left, after the others went.
      const settled = steady.length;
      await eventually(() => (steady.length >= settled + 20 ? true : undefined), 10_000, '20 more requests');
    } finally {
      going = false;
      await caller;
    }
    assert.deepEqual(
      [...burstReplies.map((r) => r.status), ...steady.map((r) => r.status)].filter((s) => s !== 200),
      [],
      'no request failed while replicas went away',
    );
    const pids = new Set(steady.map((r) => r.pid));
    assert.ok(
      pids.size >= 2,
      `the steady caller met more than one replica before the scale-down (${pids.size})`,
    );
    assert.ok(steady.length > 40, `${steady.length} steady requests`);

    const zero = await eventually(
      async () => {
        const s = await status();
        return s?.replicas === 0 ? s : undefined;
      },
      15_000,
      'zero once the caller stopped',
    );
    assert.equal(zero.conditions.find((c) => c.type === 'Ready')?.reason, 'ScaledToZero');
  });
});
