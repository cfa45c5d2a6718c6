import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { type NatsServer, type RedisServer, eventually, send, startRedisServer } from '@nimbus/testkit';
import { CallbackReceiver, admin, callRecords, inParallel, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess, alive } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';

/** Long enough that every replica always has calls in flight while the load runs. */
const WORK = `export default async (event) => {
  await new Promise((resolve) => setTimeout(resolve, 30));
  return { pid: process.pid, n: event.query.n };
};`;
const POLICY = 'async:\n  maxAttempts: 5\n  backoff:\n    initial: 100ms\n    max: 1s';

interface Listed {
  metadata: { name: string };
  status: { readyReplicas: number };
}

describe('async calls survive a dying replica and a restarting NATS (real Redis, NATS, gateway and replicas)', function () {
  this.timeout(180_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let secured: SecuredNats;
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CallbackReceiver;

  before(async () => {
    [redis, secured] = await Promise.all([startRedisServer(), startSecuredNats()]);
    nats = secured.server;
    dir = await functionsFolder({
      'work.yaml': inlineFunction('work', WORK, `scale:\n  min: 3\n  max: 3\n${POLICY}`),
      'steady.yaml': inlineFunction('steady', WORK, `scale:\n  min: 2\n  max: 2\n${POLICY}`),
    });
    platform = await LocalModeProcess.start(dir, { NIMBUS_REDIS_URL: redis.url, ...secured.env('local') });
    hooks = await CallbackReceiver.start();
    await eventually(
      async () => {
        const list = (await send(platform.url, '/system/functions', { headers: admin })).json<Listed[]>();
        const ready = (name: string) => list.find((f) => f.metadata.name === name)?.status.readyReplicas;
        return ready('work') === 3 && ready('steady') === 2 ? true : undefined;
      },
      30_000,
      'three replicas of work and two of steady',
    );
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Every accepted call reached a final state, succeeded, and was called back exactly once. */
  async function assertEachOnce(
    ids: readonly string[],
    what: string,
  ): Promise<Map<string, { attempts: number }>> {
    await eventually(
      async () => (ids.every((id) => hooks.byId.has(id)) ? true : undefined),
      90_000,
      `a callback for each of the ${ids.length} calls ${what}`,
    );
    const records = await callRecords(platform.url, ids);
    const notSucceeded = ids.filter((id) => records.get(id)?.status !== 'succeeded');
    assert.deepEqual(notSucceeded.slice(0, 5), [], `${notSucceeded.length} calls did not succeed`);
    const repeated = ids.filter((id) => hooks.byId.get(id)?.length !== 1);
    assert.deepEqual(repeated.slice(0, 5), [], `${repeated.length} calls were called back more than once`);
    for (const id of ids) assert.equal(hooks.byId.get(id)?.[0]?.headers['x-call-status'], 'succeeded');
    return records;
  }

  it('kill a replica in the middle of 1,000 async calls: every call ends, succeeded, with one result each', async () => {
    const pids = new Set<number>();
    await eventually(
      async () => {
        pids.add((await send(platform.url, '/function/work')).json<{ pid: number }>().pid);
        return pids.size === 3 ? true : undefined;
      },
      10_000,
      'the pids of the three replicas',
    );
    const victim = [...pids][1] as number;
    let killedAt = -1;
    const accepted: string[] = [];
    const sending = inParallel(
      Array.from({ length: 1000 }, (_, n) => n),
      50,
      async (n) => {
        const reply = await postAsync(platform.url, `work?n=${n}`, { 'x-callback-url': hooks.url });
        assert.equal(reply.status, 202, reply.text);
        accepted.push(reply.headers['x-call-id'] as string);
      },
    );
    // Counted from here: the receiver also holds the callbacks of the other case.
    const earlier = hooks.count;
    await eventually(async () => (hooks.count - earlier >= 200 ? true : undefined), 30_000, '200 calls done');
    process.kill(victim, 'SIGKILL');
    killedAt = hooks.count - earlier;
    await sending;
    assert.equal(accepted.length, 1000);
    assert.ok(killedAt < 1000, `the replica died with ${1000 - killedAt} calls to go`);
    assert.equal(alive(victim), false);
    const records = await assertEachOnce(accepted, 'with a replica killed');
    const retried = [...records.values()].filter((r) => r.attempts > 1).length;
    assert.ok(retried > 0, 'calls in flight on the killed replica were retried');
    const answeredBy = new Set(accepted.map((id) => JSON.parse(hooks.byId.get(id)?.[0]?.body ?? '{}').pid));
    assert.ok(answeredBy.has(victim) && answeredBy.size >= 3, 'the load was spread, the victim included');
  });

  it('restart NATS during a stream of calls: nothing answered 202 is lost', async () => {
    const accepted: string[] = [];
    const refused: string[] = [];
    let sent = 0;
    const post = async () => {
      const n = sent++;
      const reply = await postAsync(platform.url, `steady?n=${n}`, { 'x-callback-url': hooks.url });
      if (reply.status === 202) accepted.push(reply.headers['x-call-id'] as string);
      else {
        assert.equal(reply.status, 503, reply.text);
        assert.equal(reply.json().code, 'QueueUnavailable');
        refused.push(String(reply.json().callId));
      }
    };
    const stream = async (until: () => boolean) => {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (!until()) await post();
        }),
      );
    };
    // Calls flow before, during and after the restart.
    await stream(() => accepted.length >= 150);
    let restarted = false;
    const restart = nats.restart().then(() => {
      restarted = true;
    });
    await stream(() => restarted);
    await restart;
    const beforeAfter = accepted.length;
    await eventually(
      async () => {
        await stream(() => accepted.length >= beforeAfter + 150 || sent > beforeAfter + 5_000);
        return accepted.length >= beforeAfter + 150 ? true : undefined;
      },
      30_000,
      '150 calls accepted after the restart',
    );
    await assertEachOnce(accepted, 'across the restart');
    // A refused call never claims to be queued: its record says it failed (or, when NATS stored
    // it but the ack was lost with the connection, what actually became of it).
    const refusedRecords = await callRecords(platform.url, refused);
    for (const id of refused) {
      const status = refusedRecords.get(id)?.status;
      assert.ok(status === 'failed' || status === 'succeeded', `refused call ${id} is ${status}`);
    }
  });

  it('needed nothing its least-privilege NATS user is denied', () => {
    assert.deepEqual(secured.violations(), []);
  });
});
