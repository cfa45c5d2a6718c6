import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeObject } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { counterValue } from '../harness/controller.js';
import { alive } from '../harness/local-mode-process.js';
import type { RunningPod } from '../harness/pod-runner.js';
import { ScalingCluster } from '../harness/scaling-cluster.js';

/**
 * A function whose own pods load only once the test opens a gate (GATE, a URL answering 200),
 * while a pool pod (NIMBUS_POOL=1 in its environment) loads it at once: so a pool pod the function
 * took over serves alone, for as long as the test needs, before the function's own pod is ready.
 * (A URL, not a file: the pod runner maps paths under a pod's mounts, /tmp among them, into the pod.)
 */
const GATED_SOURCE = `if (process.env.NIMBUS_POOL !== '1') {
  for (;;) {
    const open = await fetch(process.env.GATE).then((r) => r.ok, () => false);
    if (open) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
export const handle = async () => ({ pid: process.pid });`;

const REPLACED = 'nimbus_controller_pool_pods_replaced_total';

interface ContainerStatusView {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string } };
}
interface PodView extends KubeObject {
  status?: { conditions?: { type: string; status: string }[]; containerStatuses?: ContainerStatusView[] };
}
interface EventView {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string; uid?: string };
}

/**
 * Attack: crash a warm-pool pod's runtime (a crash, an OOM kill, a failed liveness probe). A pool
 * pod's runtime takes its specialise token from a file it removes at start, so the container
 * cannot restart in place: left alone, the pod sits in CrashLoopBackOff, never picked, holding a
 * pool slot, and a few crashes empty the pool for good. Defended: the controller deletes such a
 * generic pod, so its ReplicaSet starts a fresh one (fresh init container, fresh token); a pod a
 * function took over is never deleted for it, and goes once the function's own pods serve.
 */
describe('security: a warm-pool pod whose runtime dies is replaced, and the pool is full again', function () {
  this.timeout(300_000);
  let cluster: ScalingCluster;
  let gate: Server;
  let gateOpen = false;
  const timings: string[] = [];

  before(async function () {
    this.timeout(180_000);
    gate = createServer((_req, res) => res.writeHead(gateOpen ? 200 : 503).end());
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const gateUrl = `http://127.0.0.1:${(gate.address() as AddressInfo).port}/`;
    cluster = await ScalingCluster.start(
      { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: '2' },
      'poolheal',
    );
    await cluster.createFunction('gated', {
      scale: { min: 0, scaleToZeroAfter: '120s' },
      source: { inline: GATED_SOURCE },
      env: [{ name: 'GATE', value: gateUrl }],
    });
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await cluster?.stop();
    gate?.closeAllConnections();
    await new Promise((resolve) => gate?.close(resolve) ?? resolve(undefined));
  });

  const api = (path: string) => `/api/v1/namespaces/${cluster.namespace}${path}`;
  const readyPoolPods = () => cluster.readyPoolPods<PodView>();
  const fullPool = (deadlineMs: number, what: string) =>
    eventually(
      async () => {
        const ready = await readyPoolPods();
        return ready.length === 2 ? ready : undefined;
      },
      deadlineMs,
      what,
    );
  const pod = async (name: string) => {
    const reply = await cluster.plane.request<PodView>('GET', api(`/pods/${name}`));
    return reply.status === 200 ? reply.body : undefined;
  };
  const running = (uid: string | undefined): RunningPod => {
    const found = cluster.runner.pods().find((p) => p.uid === uid);
    assert.ok(found?.pid !== undefined, `the pod runner runs pod ${uid}`);
    return found;
  };
  const replacedEvents = async (uid: string) => {
    const reply = await cluster.plane.request<{ items: EventView[] }>('GET', api('/events'));
    return reply.body.items.filter((e) => e.reason === 'PoolPodReplaced' && e.involvedObject.uid === uid);
  };
  const replaced = () => counterValue(cluster.controller.registry, REPLACED);

  it('a generic pool pod whose runtime process is killed is deleted and replaced; the other pod is untouched', async () => {
    const [victim, bystander] = await fullPool(90_000, 'two ready pool pods');
    assert.ok(victim !== undefined && bystander !== undefined);
    const victimRun = running(victim.metadata.uid);
    const bystanderRun = running(bystander.metadata.uid);
    const before = await replaced();

    const killed = Date.now();
    process.kill(victimRun.pid as number, 'SIGKILL');
    await eventually(
      async () => ((await pod(victim.metadata.name ?? '')) === undefined ? true : undefined),
      30_000,
      'the broken pool pod to be deleted',
    );
    const pods = await fullPool(60_000, 'the pool full again with a fresh pod');
    timings.push(`runtime killed → pool full again: ${Date.now() - killed} ms`);
    const uids = pods.map((p) => p.metadata.uid);
    assert.ok(!uids.includes(victim.metadata.uid), 'the broken pod is not counted in the pool');
    assert.ok(uids.includes(bystander.metadata.uid), 'the other pool pod is still there');
    assert.equal(running(bystander.metadata.uid).pid, bystanderRun.pid, 'and its process never restarted');

    assert.equal((await replaced()) - before, 1, `${REPLACED} counts the one replacement`);
    const events = await eventually(
      async () => {
        const found = await replacedEvents(victim.metadata.uid ?? '');
        return found.length > 0 ? found : undefined;
      },
      10_000,
      'a PoolPodReplaced event on the pod',
    );
    assert.equal(events[0]?.type, 'Warning');
    assert.equal(events[0]?.involvedObject.kind, 'Pod');
    assert.match(events[0]?.message ?? '', /cannot restart in place/);
    assert.equal((await replacedEvents(bystander.metadata.uid ?? '')).length, 0);
  });

  it('a pod a function took over whose runtime dies is left to fail, not replaced; the function’s own pod takes over and it goes', async () => {
    await fullPool(60_000, 'a full pool');
    const first = await send(cluster.gatewayBase, `/function/gated.${cluster.namespace}`);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-nimbus-cold-start'], 'true');
    const poolPid = first.json<{ pid: number }>().pid;
    const taken = cluster.runner.pods().find((p) => p.pid === poolPid);
    assert.ok(taken !== undefined, 'served by a pool pod');
    const adopted = await pod(taken.name);
    assert.equal(adopted?.metadata.labels?.['nimbus.dev/adopted'], 'true');
    assert.equal(adopted?.metadata.labels?.['nimbus.dev/function'], 'gated');
    assert.equal(
      (await cluster.deployment('gated'))?.status?.readyReplicas ?? 0,
      0,
      'its own pod waits at the gate',
    );
    const before = await replaced();

    process.kill(poolPid, 'SIGKILL');
    // Two restarts, each failing: long enough for the healer to have seen the crash loop twice.
    const broken = await eventually(
      async () => {
        const seen = await pod(taken.name);
        const runtime = seen?.status?.containerStatuses?.find((c) => c.name === 'function');
        return (runtime?.restartCount ?? 0) >= 2 && runtime?.state?.waiting?.reason === 'CrashLoopBackOff'
          ? seen
          : undefined;
      },
      30_000,
      'the taken-over pod to crash-loop',
    );
    assert.equal(broken.metadata.deletionTimestamp, undefined, 'the healer did not delete a taken-over pod');
    assert.equal(broken.metadata.labels?.['nimbus.dev/adopted'], 'true');
    const log = await readFile(taken.logFile, 'utf8');
    assert.match(
      log,
      /NIMBUS_POOL_TOKEN_FILE must name a file holding the pool token/,
      'restarts fail on the token',
    );
    assert.equal(await replaced(), before, 'no replacement counted');
    assert.equal((await replacedEvents(taken.uid)).length, 0, 'no PoolPodReplaced event for it');

    gateOpen = true;
    await eventually(
      async () => ((await pod(taken.name)) === undefined ? true : undefined),
      60_000,
      'the taken-over pod to be deleted once the function’s own pod is ready',
    );
    assert.ok(!alive(poolPid));
    const reply = await send(cluster.gatewayBase, `/function/gated.${cluster.namespace}`);
    assert.equal(reply.status, 200, reply.text);
    const ownPid = reply.json<{ pid: number }>().pid;
    assert.notEqual(ownPid, poolPid);
    const own = cluster.runner.pods().find((p) => p.pid === ownPid);
    assert.ok(own?.name.startsWith('gated-'), `served by the function’s own pod (${own?.name})`);
    const pool = await fullPool(60_000, 'the pool still full');
    assert.ok(!pool.some((p) => p.metadata.uid === taken.uid));
  });
});
