import assert from 'node:assert/strict';
import type { FunctionStatus } from '@nimbus/api';
import { KubeClient, loadKubeConfig } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { ScalingCluster } from '../harness/scaling-cluster.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';

/** A handler that answers with its own version's word, or fails every call with a 500. */
const answering = (word: string) =>
  `export const handle = async () => ({ version: ${JSON.stringify(word)} });`;
const failing = `export const handle = async () => ({ statusCode: 500, body: { error: 'this version is broken' } });`;

interface FunctionView {
  spec: Record<string, unknown>;
  status?: FunctionStatus;
}

/**
 * Versions, traffic and progressive rollouts end to end, on kube-apiserver with
 * kube-controller-manager: the controller makes a Deployment per version, the pod runner runs
 * them, the gateway shares calls by the Function's status.traffic and reports each version's
 * outcomes, and the controller's rollout driver promotes or rolls back on real answers.
 */
describe('rollouts on kube-controller-manager: a bad version rolled back, a good one promoted', function () {
  this.timeout(300_000);
  let cluster: ScalingCluster;
  let client: KubeClient;
  const timings: string[] = [];
  const name = 'shop';

  before(async function () {
    this.timeout(180_000);
    cluster = await ScalingCluster.start({}, 'rollout');
    client = new KubeClient(loadKubeConfig({ KUBECONFIG: cluster.plane.kubeconfigPath }));
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    client?.close();
    await cluster?.stop();
  });

  const path = (fn = name) => `${FUNCTIONS}/${cluster.namespace}/functions/${fn}`;
  const read = async (fn = name) => (await cluster.plane.request<FunctionView>('GET', path(fn))).body;

  async function patchSpec(spec: Record<string, unknown>, fn = name): Promise<number> {
    await client.request('PATCH', path(fn), { body: { spec }, contentType: 'application/merge-patch+json' });
    return Date.now();
  }

  /** One call through the gateway: the version that answered (its header) and the status. */
  async function call(headers: Record<string, string> = {}, fn = name) {
    const reply = await send(cluster.gatewayBase, `/function/${fn}.${cluster.namespace}`, { headers });
    return {
      status: reply.status,
      version: reply.headers['x-nimbus-version'] as string | undefined,
      text: reply.text,
    };
  }

  /** Calls, 8 at a time, until `until` holds or 60 s pass (bounded: at most 4,000 calls). */
  async function drive(until: (status: FunctionStatus | undefined) => boolean, what: string, fn = name) {
    const deadline = Date.now() + 60_000;
    const seen = new Map<string, { ok: number; failed: number }>();
    for (let sent = 0; sent < 4000 && Date.now() < deadline; sent += 8) {
      const replies = await Promise.all(Array.from({ length: 8 }, () => call({}, fn)));
      for (const r of replies) {
        const tally = seen.get(r.version ?? '?') ?? { ok: 0, failed: 0 };
        if (r.status === 200) tally.ok++;
        else tally.failed++;
        seen.set(r.version ?? '?', tally);
      }
      const status = (await read(fn)).status;
      if (until(status)) return { status: status as FunctionStatus, seen };
    }
    throw new Error(`${what} did not happen in 60 s; calls seen by version: ${JSON.stringify([...seen])}`);
  }

  it('a versioned Function runs v1 in a Deployment of its own and serves it all', async () => {
    await cluster.createWithSpec(name, {
      handler: 'index.handle',
      source: { inline: answering('one') },
      scale: { min: 1, max: 2 },
      versions: { keep: 5 },
      rollout: {
        steps: [
          { percent: 20, pause: '2s' },
          { percent: 50, pause: '2s' },
        ],
        minRequests: 10,
        maxErrorRateIncrease: 5,
        // Latency is judged too, but loosely: on a shared 2-core machine a p99 over ten calls
        // can double by chance, and this suite is about answers (latency: the decision's tests).
        maxLatencyIncrease: 900,
        p99Floor: '200ms',
      },
    });
    const status = await eventually(
      async () => {
        const s = (await read()).status;
        return s?.latestVersion === 'v1' && s.traffic?.[0]?.percent === 100 ? s : undefined;
      },
      60_000,
      'status to show v1 with all traffic',
    );
    assert.deepEqual(status.traffic, [{ version: 'v1', percent: 100 }]);
    assert.ok(await cluster.deployment(`${name}-v1`), 'the version has a Deployment of its own');
    const first = await eventually(
      async () => {
        const r = await call();
        return r.status === 200 ? r : undefined;
      },
      60_000,
      'v1 to answer',
    );
    assert.equal(first.version, 'v1');
    assert.match(first.text, /"one"/);
  });

  it('a v2 that fails its calls is rolled back to v1 by itself: condition, Event, v2 kept', async () => {
    const changed = await patchSpec({ source: { inline: failing } });
    const { status, seen } = await drive((s) => s?.rollout?.phase === 'RolledBack', 'the rollback of v2');
    timings.push(`v2 rolled back ${Date.now() - changed} ms after the change`);
    assert.equal(status.rollout?.candidate, 'v2');
    assert.equal(status.rollout?.stable, 'v1');
    assert.equal(status.rollout?.reason, 'ErrorRate');
    assert.deepEqual(status.traffic, [{ version: 'v1', percent: 100 }]);
    const condition = status.conditions?.find((c) => c.type === 'RolledOut');
    assert.equal(condition?.status, 'False');
    assert.equal(condition?.reason, 'RolledBack');
    assert.match(condition?.message ?? '', /v2 failed \d+ of \d+ calls/);
    assert.ok(
      (seen.get('v2')?.failed ?? 0) > 0,
      'v2 answered real calls with 500s before it was rolled back',
    );
    assert.ok(
      status.versions?.some((v) => v.name === 'v2'),
      'the failed version is kept for inspection',
    );
    assert.ok(await cluster.deployment(`${name}-v2`), 'its Deployment too');
    const events = await eventually(
      async () => {
        const list = await cluster.plane.request<{
          items: { reason: string; message: string; involvedObject: { name: string } }[];
        }>('GET', `/api/v1/namespaces/${cluster.namespace}/events`);
        return list.body.items.find((e) => e.reason === 'RolledBack' && e.involvedObject.name === name);
      },
      30_000,
      'a RolledBack Event on the Function',
    );
    assert.match(events.message, /v2/);
    // Once rolled back, every call is v1's.
    for (let i = 0; i < 20; i++) assert.equal((await call()).version, 'v1');
  });

  it('a good v3 is promoted step by step to all traffic', async () => {
    const changed = await patchSpec({ source: { inline: answering('three') } });
    const steps = new Set<number>();
    const { status } = await drive((s) => {
      if (s?.rollout?.candidate === 'v3' && s.rollout.step !== undefined) steps.add(s.rollout.step);
      return s?.rollout?.candidate === 'v3' && s.rollout.phase !== 'Progressing';
    }, 'the promotion of v3');
    timings.push(`v3 promoted ${Date.now() - changed} ms after the change`);
    assert.equal(status.rollout?.phase, 'Succeeded', JSON.stringify(status.rollout));
    assert.deepEqual(status.traffic, [{ version: 'v3', percent: 100 }]);
    assert.ok(steps.has(1) || steps.has(2), `the rollout was seen at a step (${[...steps]})`);
    const condition = status.conditions?.find((c) => c.type === 'RolledOut');
    assert.equal(condition?.status, 'True');
    const reply = await call();
    assert.equal(reply.version, 'v3');
    assert.match(reply.text, /"three"/);
  });

  it('rollback is one field: spec.traffic back to v1 takes effect within a second', async () => {
    const changed = await patchSpec({ traffic: [{ version: 'v1', percent: 100 }] });
    let firstV1: number | undefined;
    const deadline = changed + 10_000;
    while (Date.now() < deadline) {
      const reply = await call();
      if (reply.version === 'v1') {
        firstV1 = Date.now();
        break;
      }
    }
    assert.ok(firstV1 !== undefined, 'v1 answered again');
    const took = firstV1 - changed;
    timings.push(`one-field rollback served by v1 after ${took} ms`);
    assert.ok(took < 1000, `rollback took ${took} ms`);
    for (let i = 0; i < 20; i++) assert.equal((await call()).version, 'v1');
  });

  it('a tag reaches its version by URL and by header; a version traffic does not name is out of reach', async () => {
    await patchSpec({
      traffic: [
        { version: 'v1', percent: 100 },
        { version: 'v3', percent: 0, tag: 'next' },
      ],
    });
    const tagged = await eventually(
      async () => {
        const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}@next`);
        return reply.status === 200 ? reply : undefined;
      },
      30_000,
      'the tag to reach v3',
    );
    assert.equal(tagged.headers['x-nimbus-version'], 'v3');
    assert.equal((await call({ 'x-nimbus-version': 'next' })).version, 'v3');
    // v2 is kept but named by no traffic entry: neither its name nor a made-up tag reaches it.
    const pinned = await call({ 'x-nimbus-version': 'v2' });
    assert.equal(pinned.status, 404, pinned.text);
    assert.match(pinned.text, /v2/);
    const untagged = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}@nope`);
    assert.equal(untagged.status, 404, untagged.text);
  });
  it('a version that answers, but slower than the stable one by more than allowed, is rolled back for its latency', async () => {
    const slow = 'slowpoke';
    await cluster.createWithSpec(slow, {
      handler: 'index.handle',
      source: { inline: answering('quick') },
      scale: { min: 1, max: 2 },
      versions: { keep: 5 },
      rollout: {
        steps: [{ percent: 30, pause: '30s' }],
        minRequests: 10,
        maxLatencyIncrease: 50,
        p99Floor: '50ms',
      },
    });
    await eventually(
      async () => ((await call({}, slow)).version === 'v1' ? true : undefined),
      60_000,
      'v1 of slowpoke to answer',
    );
    const changed = await patchSpec(
      {
        source: {
          inline:
            "export const handle = async () => { await new Promise((r) => setTimeout(r, 400)); return { version: 'slow' }; };",
        },
      },
      slow,
    );
    const { status, seen } = await drive(
      (s) => s?.rollout?.phase === 'RolledBack',
      'the latency rollback',
      slow,
    );
    timings.push(`slow v2 rolled back ${Date.now() - changed} ms after the change`);
    assert.equal(status.rollout?.reason, 'Latency', JSON.stringify(status.rollout));
    assert.match(status.rollout?.message ?? '', /v2's p99 latency \d+ ms is over 1.5 times v1's/);
    assert.deepEqual(status.traffic, [{ version: 'v1', percent: 100 }]);
    assert.ok((seen.get('v2')?.ok ?? 0) > 0, 'v2 answered 200 to real calls: only its latency failed it');
  });
});
