import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually, freePort, send } from '@nimbus/testkit';
import { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, installFunctionCrd, sharedControlPlane } from '../harness/control-plane/shared.js';
import {
  GATEWAY_URL,
  REPORT_TOKEN,
  RUNTIME_IMAGE,
  type RunningController,
  counterValue,
  startController,
} from '../harness/controller.js';

const MAIN = fileURLToPath(new URL('../../../../controller/dist/src/cluster/main.js', import.meta.url));

interface Lease {
  spec?: { holderIdentity?: string; leaseTransitions?: number };
}
interface Stored {
  status?: { observedGeneration?: number };
}

const fnDoc = (name: string) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "hi"' } },
});

async function createAndAwaitReconcile(plane: ControlPlane, namespace: string, name: string, ms = 15_000) {
  const path = `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
  const created = await plane.request('POST', path, fnDoc(name));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await eventually(
    async () =>
      (await plane.request<Stored>('GET', `${path}/${name}`)).body.status?.observedGeneration === 1
        ? true
        : undefined,
    ms,
    `${name} to be reconciled`,
  );
}

describe('controller leader election over a Lease', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  const running: RunningController[] = [];
  const LEASE_MS = 4000;
  const RETRY_MS = 250;
  const electing = (identity: string) =>
    startController(plane, namespace, {
      NIMBUS_LEADER_ELECTION: 'true',
      NIMBUS_LEASE_NAMESPACE: namespace,
      POD_NAME: identity,
      NIMBUS_LEASE_DURATION_MS: String(LEASE_MS),
      NIMBUS_LEASE_RENEW_DEADLINE_MS: '3000',
      NIMBUS_LEASE_RETRY_MS: String(RETRY_MS),
    });
  const holder = async () =>
    (
      await plane.request<Lease>(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/nimbus-controller`,
      )
    ).body.spec?.holderIdentity;

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'election');
  });

  after(async () => {
    for (const r of running) await r.stop().catch(() => {});
  });

  it('lets exactly one of two controllers act, and the other take over within the lease duration when it dies', async () => {
    const a = await electing('controller-a');
    const b = await electing('controller-b');
    running.push(a, b);
    const leader = await eventually(() => [a, b].find((r) => r.controller.isLeader), 10_000, 'a leader');
    const standby = leader === a ? b : a;
    assert.equal(standby.controller.isLeader, false, 'only one leads');
    assert.equal(await holder(), leader.config.lease?.identity);

    await createAndAwaitReconcile(plane, namespace, 'one');
    // The status lands before the reconcile ends (pool and trigger steps follow it) and is counted.
    await eventually(
      async () =>
        (await counterValue(leader.registry, 'nimbus_controller_reconciles_total')) > 0 ? true : undefined,
      10_000,
      'the leader to count its reconcile',
    );
    assert.equal(
      await counterValue(standby.registry, 'nimbus_controller_reconciles_total'),
      0,
      'the standby never acts',
    );
    // Its informers (Functions and every owned kind) sync on their own time; on a busy machine that
    // can come after the leader's first reconcile.
    await eventually(
      async () => ((await send(standby.base, '/readyz')).status === 200 ? true : undefined),
      10_000,
      'the standby to be ready with a warm cache',
    );
    assert.equal(standby.controller.isLeader, false, 'ready while standing by');

    // A crash: the lease is not handed back, so the standby must wait it out.
    const crashed = Date.now();
    await leader.stop(false);
    await eventually(
      () => (standby.controller.isLeader ? true : undefined),
      3 * LEASE_MS,
      'the standby to take over',
    );
    const takeover = Date.now() - crashed;
    // Slack for a busy machine; what matters is that it waited the lease out, then took over.
    assert.ok(takeover <= LEASE_MS + 3000, `took over after ${takeover} ms`);
    assert.ok(
      takeover >= LEASE_MS - 2 * RETRY_MS,
      `took over after ${takeover} ms, before the lease ran out`,
    );
    assert.equal(await holder(), standby.config.lease?.identity);
    await createAndAwaitReconcile(plane, namespace, 'two');
  });

  it('hands the lease over at once on a graceful stop', async () => {
    const current = running.find((r) => r.controller.isLeader);
    assert.ok(current !== undefined);
    const next = await electing('controller-c');
    running.push(next);
    await eventually(
      async () => ((await send(next.base, '/readyz')).status === 200 ? true : undefined),
      10_000,
      'c ready',
    );
    const stopped = Date.now();
    await current.stop(true);
    await eventually(() => (next.controller.isLeader ? true : undefined), LEASE_MS, 'c to take over');
    const handover = Date.now() - stopped;
    assert.ok(handover < LEASE_MS / 2, `handover took ${handover} ms`);
    await createAndAwaitReconcile(plane, namespace, 'three');
  });
});

describe('the controller when the API server restarts under it', function () {
  this.timeout(10 * 60_000);
  let plane: ControlPlane;
  let running: RunningController | undefined;

  before(async () => {
    // A plane of its own: restarting the shared one would cut other suites' watches.
    plane = await ControlPlane.start();
    await installFunctionCrd(plane);
  });

  after(async () => {
    await running?.stop();
    await plane?.stop();
  });

  it('keeps working once the server is back, with its watch history compacted meanwhile', async () => {
    const namespace = await freshNamespace(plane, 'restart');
    running = await startController(plane, namespace);
    await createAndAwaitReconcile(plane, namespace, 'before');
    await plane.restartApiServer(async () => {
      await plane.compactEtcd();
    });
    await createAndAwaitReconcile(plane, namespace, 'after', 60_000);
    assert.equal((await send(running.base, '/readyz')).status, 200);
    const deployment = await plane.request('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/after`);
    assert.equal(deployment.status, 200);
  });
});

describe('the controller process (controller/dist/src/cluster/main.js)', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'process');
  });

  const launch = (
    env: Record<string, string>,
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } => {
    let text = '';
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => {
      text += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => text, exited };
  };

  it('reconciles, reports ready, and on SIGTERM hands back its lease and exits 0', async () => {
    const port = await freePort();
    const { child, output, exited } = launch({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: namespace,
      NIMBUS_RUNTIME_IMAGE: RUNTIME_IMAGE,
      NIMBUS_GATEWAY_URL: GATEWAY_URL,
      POD_NAMESPACE: namespace,
      POD_NAME: 'controller-main',
      NIMBUS_METRICS_HOST: '127.0.0.1',
      NIMBUS_METRICS_PORT: String(port),
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(
        async () => ((await send(base, '/readyz').catch(() => undefined))?.status === 200 ? true : undefined),
        15_000,
        'the process to be ready',
      );
      await createAndAwaitReconcile(plane, namespace, 'from-process');
      const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/nimbus-controller`;
      assert.equal(
        (await plane.request<Lease>('GET', leasePath)).body.spec?.holderIdentity,
        'controller-main',
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output());
      assert.equal(
        (await plane.request<Lease>('GET', leasePath)).body.spec?.holderIdentity,
        '',
        'lease handed back',
      );
      assert.match(output(), /"msg":"released the lease"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad setting at start-up, naming it, and exits 1', async () => {
    const { output, exited } = launch({
      KUBECONFIG: plane.kubeconfigPath,
      NIMBUS_RUNTIME_IMAGE: RUNTIME_IMAGE,
      NIMBUS_GATEWAY_URL: 'not a url',
      POD_NAMESPACE: namespace,
    });
    assert.equal(await exited, 1);
    assert.match(output(), /NIMBUS_GATEWAY_URL: must be an http\(s\) URL/);
  });
});
