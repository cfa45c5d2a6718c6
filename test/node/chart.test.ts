import { strict as assert } from 'node:assert';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '@nimbus/testkit';
import { untilAtZero, untilNoPool, untilPoolReady } from './harness/function-scale.js';
import { stderrProgress, unsupportedReason } from './harness/host.js';
import { EXAMPLES_DIR, NimbusRelease, RELEASE, RELEASE_NAMESPACE } from './harness/nimbus-release.js';
import type { RealNode } from './harness/node.js';
import { runToCompletion, runningContainers } from './harness/pods.js';
import { sharedNode } from './harness/shared-node.js';

/**
 * The operator's path on a real kubelet: `helm install` with the chart's defaults (plus the
 * Redis and NATS images a registry-less node needs), then `kubectl apply` of Functions, then
 * HTTP through the gateway's Service. Every process here is a real container of the images the
 * repository's Dockerfiles build.
 */

const reason = unsupportedReason();
const APPS = 'apps';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface FunctionView {
  metadata: { name: string };
  status?: { conditions?: Condition[]; readyReplicas?: number; url?: string };
}

const FLAKY = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: flaky
spec:
  source:
    inline: |
      export default async (event) => {
        if (event.query.fail) return { statusCode: 503, body: 'in trouble' };
        return { body: event.body };
      };
  async:
    maxAttempts: 2
    backoff: { initial: 100ms, max: 200ms }
`;

const COUNTER = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: counter
spec:
  source:
    inline: |
      export default async (event, ctx) => ({ count: await ctx.state.incr(event.query.key ?? 'hits') });
  state:
    enabled: true
`;

const SLEEPY = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: sleepy
spec:
  source:
    inline: |
      export default async () => ({ pid: process.pid, woke: true });
  scale:
    min: 0
    scaleToZeroAfter: 3s
`;

/** A client speaking NATS's text protocol with no credentials, from inside the cluster. */
const ANONYMOUS_NATS = (host: string) =>
  [
    "const net = require('node:net');",
    `const s = net.connect(4222, '${host}');`,
    "let text = '';",
    "s.on('data', (d) => { text += d; if (/-ERR|\\+OK|PONG/.test(text)) { console.log(JSON.stringify(text)); process.exit(0); } });",
    "s.on('connect', () => s.write('CONNECT {\"verbose\":true}\\r\\nPUB nimbus.calls.apps.flaky 2\\r\\nhi\\r\\nPING\\r\\n'));",
    "s.on('error', (e) => { console.log(JSON.stringify('error: ' + e.message)); process.exit(0); });",
  ].join('');

describe('the chart on a real node', function () {
  this.timeout(20 * 60_000);
  let node: RealNode;
  let release: NimbusRelease;
  const functionView = async (name: string): Promise<FunctionView> =>
    JSON.parse((await node.kubectl(['-n', APPS, 'get', 'function', name, '-o', 'json'])).stdout);
  const readyFunction = (name: string) =>
    eventually(
      async () => {
        const fn = await functionView(name);
        return fn.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? fn : undefined;
      },
      180_000,
      `Function ${name} Ready`,
    );

  before(async function () {
    if (reason !== undefined) {
      this.skip();
      return;
    }
    node = await sharedNode();
    release = await NimbusRelease.install(node);
    await node.kubectl(['create', 'namespace', APPS]);
  });

  if (reason !== undefined) it.skip(`needs: ${reason}`);

  it('installs with helm: the controller, gateway, Redis and NATS all ready', async () => {
    const { stdout } = await node.kubectl([
      '-n',
      RELEASE_NAMESPACE,
      'get',
      'deployments,statefulsets',
      '-o',
      'json',
    ]);
    const items = (
      JSON.parse(stdout) as {
        items: {
          kind: string;
          metadata: { name: string };
          spec: { replicas: number };
          status: { readyReplicas?: number };
        }[];
      }
    ).items;
    const ready = Object.fromEntries(
      items.map((i) => [`${i.kind}/${i.metadata.name}`, `${i.status.readyReplicas ?? 0}/${i.spec.replicas}`]),
    );
    assert.deepEqual(ready, {
      [`Deployment/${RELEASE}-controller`]: '2/2',
      [`Deployment/${RELEASE}-gateway`]: '2/2',
      [`StatefulSet/${RELEASE}-nats`]: '1/1',
      [`StatefulSet/${RELEASE}-redis`]: '1/1',
    });
  });

  it('runs every container as the chart promises: not root, no capabilities, a read-only root filesystem', async () => {
    // Read from the running processes themselves (the node is this machine), not from the specs.
    const containers = await runningContainers(node, RELEASE_NAMESPACE);
    assert.ok(containers.length >= 6, `found ${containers.map((c) => c.name).join(', ')}`);
    for (const c of containers) {
      const status = await readFile(`/proc/${c.pid}/status`, 'utf8');
      const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number) ?? [];
      assert.ok(uids.length === 4 && uids.every((u) => u > 0), `${c.pod}/${c.name} runs as uids ${uids}`);
      assert.equal(
        /^CapEff:\s+(\w+)$/m.exec(status)?.[1],
        '0000000000000000',
        `${c.pod}/${c.name} capabilities`,
      );
      assert.equal(/^NoNewPrivs:\s+(\d)$/m.exec(status)?.[1], '1', `${c.pod}/${c.name} no_new_privs`);
      const root = (await readFile(`/proc/${c.pid}/mountinfo`, 'utf8'))
        .split('\n')
        .find((line) => line.split(' ')[4] === '/');
      assert.match(root?.split(' ')[5] ?? '', /(^|,)ro(,|$)/, `${c.pod}/${c.name} root mount: ${root}`);
    }
  });

  it('takes every example Function with kubectl; the cluster ones get Ready and their printer columns', async () => {
    const files = (await readdir(EXAMPLES_DIR)).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, ['echo.yaml', 'hello.yaml', 'order-events.yaml']);
    for (const file of files) await node.kubectl(['apply', '-n', APPS, '-f', join(EXAMPLES_DIR, file)]);
    await readyFunction('hello');
    await readyFunction('echo');
    const { stdout } = await node.kubectl(['-n', APPS, 'get', 'functions', 'hello', 'echo', '--no-headers']);
    for (const line of stdout.trim().split('\n')) {
      const [name, ready, replicas, url] = line.split(/\s+/);
      assert.equal(ready, 'True', line);
      assert.match(replicas ?? '', /^[1-9]/, line);
      assert.equal(
        url,
        `http://${RELEASE}-gateway.${RELEASE_NAMESPACE}.svc:8080/function/${name}.${APPS}`,
        line,
      );
    }
    // order-events keeps its code in a folder beside it, which only local mode has: refused by name.
    const local = await eventually(
      async () => {
        const fn = await functionView('order-events');
        const readyCondition = fn.status?.conditions?.find((c) => c.type === 'Ready');
        return readyCondition?.status === 'False' ? readyCondition : undefined;
      },
      60_000,
      'order-events to be refused',
    );
    assert.match(local.message ?? '', /spec\.source\.path/);
  });

  it('answers sync calls through the gateway Service', async () => {
    const hello = await release.get(`/function/hello.${APPS}?name=Ada`);
    assert.equal(hello.status, 200, hello.text);
    assert.equal(hello.text, 'Hello, Ada!\n');
    const echo = await release.post(`/function/echo.${APPS}`, '{"ping":true}', {
      'content-type': 'application/json',
    });
    assert.equal(echo.status, 200, echo.text);
    assert.deepEqual(echo.json(), { ping: true });
  });

  it('runs async calls through NATS: one succeeds, a failing one is retried and dead-lettered with its last error', async () => {
    await release.apply(APPS, FLAKY);
    await readyFunction('flaky');
    const record = (id: string) =>
      release
        .get(`/system/calls/${id}`, release.admin)
        .then((r) => (r.status === 200 ? r.json() : undefined));
    const final = (id: string, status: string) =>
      eventually(
        async () => {
          const call = (await record(id)) as
            | { status: string; attempts: number; result?: { body: string } }
            | undefined;
          return call?.status === status ? call : undefined;
        },
        60_000,
        `call ${id} ${status}`,
      );

    const ok = await release.post(`/async-function/flaky.${APPS}`, 'queued work', {
      'content-type': 'text/plain',
    });
    assert.equal(ok.status, 202, ok.text);
    const done = await final(ok.headers['x-call-id'] as string, 'succeeded');
    assert.deepEqual(JSON.parse(done.result?.body ?? 'null'), { body: 'queued work' });

    const bad = await release.post(`/async-function/flaky.${APPS}?fail=1`, '');
    assert.equal(bad.status, 202, bad.text);
    const id = bad.headers['x-call-id'] as string;
    assert.equal((await final(id, 'failed')).attempts, 2);
    const letters = (
      await release.get(`/system/dead-letters?namespace=${APPS}&function=flaky`, release.admin)
    ).json<{ entries: { id: string; lastError: string }[] }>();
    assert.deepEqual(
      letters.entries.map((e) => e.id),
      [id],
    );
    assert.match(letters.entries[0]?.lastError ?? '', /503: in trouble/);
  });

  it('keeps a function’s state through the gateway’s state service', async () => {
    await release.apply(APPS, COUNTER);
    await readyFunction('counter');
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await release.get(`/function/counter.${APPS}?key=visits`);
      assert.equal(reply.status, 200, reply.text);
      counts.push((reply.json() as { count: number }).count);
    }
    assert.deepEqual(counts, [1, 2, 3]);
  });

  /** Waits for the Deployment of `name` to have no pod left, then times one request through the gateway. */
  async function wakeFromZero(
    name: string,
  ): Promise<{ ms: number; coldStart: boolean; status: number; text: string }> {
    await untilAtZero(node, APPS, name, 180_000);
    const started = Date.now();
    const reply = await release.get(`/function/${name}.${APPS}`);
    return {
      ms: Date.now() - started,
      coldStart: reply.headers['x-nimbus-cold-start'] === 'true',
      status: reply.status,
      text: reply.text,
    };
  }

  it('scales a function to zero and wakes it through a warm-pool pod', async () => {
    await release.apply(APPS, SLEEPY);
    await untilPoolReady(node, APPS, 180_000);
    const woke = await wakeFromZero('sleepy');
    assert.equal(woke.status, 200, woke.text);
    assert.equal(woke.coldStart, true);
    stderrProgress(`real node: request at zero → response through a pool pod: ${woke.ms} ms`);
  });

  it('helm upgrade takes a new value (no warm pool); a function at zero then wakes through a new pod', async () => {
    await release.upgrade(['--set', 'controller.warmPool.size=0']);
    await untilNoPool(node, APPS, 120_000);
    const woke = await wakeFromZero('sleepy');
    assert.equal(woke.status, 200, woke.text);
    assert.equal(woke.coldStart, true);
    stderrProgress(`real node: request at zero → response through a new pod: ${woke.ms} ms`);
  });

  it('refuses NATS to a client without credentials inside the cluster (attack, issue 11 item 3)', async () => {
    const said = await runToCompletion(node, APPS, 'anonymous-nats', node.images.distroless, [
      '-e',
      ANONYMOUS_NATS(`${RELEASE}-nats.${RELEASE_NAMESPACE}.svc.cluster.local`),
    ]);
    assert.match(said, /Authorization Violation/i, said);
  });

  it('deletes a Function with its objects, and helm uninstall leaves only what it documents', async () => {
    await node.kubectl(['delete', 'functions', '--all', '-n', APPS, '--wait=true', '--timeout=120s']);
    const left = await node.kubectl([
      '-n',
      APPS,
      'get',
      'deployments,services,configmaps,secrets',
      '-l',
      'app.kubernetes.io/managed-by=nimbus',
      '-o',
      'name',
    ]);
    assert.equal(left.stdout.trim(), '', 'the controller’s objects go with their Functions');
    await release.helm(['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait', '--timeout', '3m']);
    const remaining = await eventually(
      async () => {
        const { stdout } = await node.kubectl([
          '-n',
          RELEASE_NAMESPACE,
          'get',
          'all,configmaps,secrets,pvc',
          '-o',
          'name',
        ]);
        const names = stdout
          .trim()
          .split('\n')
          .filter((n) => n !== '' && !n.startsWith('configmap/kube-root-ca.crt'));
        return names.some((n) => n.startsWith('pod/')) ? undefined : names;
      },
      120_000,
      'the release’s pods to go',
    );
    // A StatefulSet's claims outlive it (the JetStream data of queued calls): the README says so.
    assert.deepEqual(remaining, [`persistentvolumeclaim/jetstream-${RELEASE}-nats-0`]);
  });
});
