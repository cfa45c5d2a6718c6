import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { eventually } from '@nimbus/testkit';
import { exists, sh, stderrProgress, unsupportedReason } from './harness/host.js';
import { CGROUP_ROOT, readSysctls } from './harness/kubelet.js';
import { hostPathsNow } from './harness/leftovers.js';
import { netpolUnsupportedReason } from './harness/netpol.js';
import { RealNode } from './harness/node.js';

/**
 * The real node itself, before any chart goes on it: it registers Ready, runs a pod of our own
 * image to Ready by its probe, gives pods cluster DNS and Services, serves `kubectl logs`, and
 * leaves nothing behind when it stops.
 */

const reason = unsupportedReason();
/** Node in the distroless stand-in (its entrypoint). */
const NODE = '/nodejs/bin/node';

/** What of the machine a run may change: links, iptables rules, mounts, paths, settings. */
async function hostSnapshot() {
  return {
    links: (await sh('ip', ['-o', 'link', 'show'])).stdout,
    iptables: (await sh('iptables-save', [])).stdout,
    ip6tables: (await sh('ip6tables-save', [])).stdout,
    routes: (await sh('ip', ['route', 'show', 'table', 'all'])).stdout,
    mounts: await readFile('/proc/mounts', 'utf8'),
    paths: await hostPathsNow(),
    cgroup: await exists(`/sys/fs/cgroup/pids${CGROUP_ROOT}`),
    sysctls: {
      ...(await readSysctls()),
      ip_forward: await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8'),
    },
  };
}

const linkNames = (text: string) =>
  text
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0])
    .filter((name): name is string => name !== undefined && name !== '')
    .sort();

/** iptables-save without its comment lines and packet counters. */
const rules = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .filter((line) => line !== '')
    .sort();

/** What the pods of `ns`, their events and the kubelet say: for a failure's message. */
async function diagnose(n: RealNode, ns: string): Promise<string> {
  const out = async (args: string[]) =>
    (await n.kubectl(args).catch((e: Error) => ({ stdout: e.message }))).stdout;
  const kubelet = await readFile(`${n.dir}/kubelet.log`, 'utf8').catch(() => '');
  return [
    await out(['describe', 'pods', '-n', ns]),
    await out(['get', 'events', '-n', ns]),
    '--- kubelet.log (errors):',
    kubelet
      .split('\n')
      .filter((line) => line.startsWith('E'))
      .slice(-20)
      .join('\n'),
  ].join('\n');
}

describe('real node', function () {
  this.timeout(30 * 60_000);
  let node: RealNode | undefined;
  let baseline: Awaited<ReturnType<typeof hostSnapshot>>;
  let startSeconds = 0;

  before(async function () {
    if (reason !== undefined) {
      this.skip();
      return;
    }
    // A run killed mid-way is undone first, so the baseline is the machine's own.
    await RealNode.cleanLeftovers(stderrProgress);
    baseline = await hostSnapshot();
    const started = Date.now();
    node = await RealNode.start({ progress: stderrProgress });
    startSeconds = (Date.now() - started) / 1000;
    stderrProgress(`real node up in ${startSeconds.toFixed(1)} s`);
  });

  after(async () => {
    await node?.stop();
  });

  if (reason !== undefined) it.skip(`needs: ${reason}`);

  it('registers the node Ready, at the bridge address', async () => {
    const n = node as RealNode;
    const { stdout } = await n.kubectl(['get', 'node', n.nodeName, '-o', 'json']);
    const object = JSON.parse(stdout) as {
      status: {
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
      };
    };
    assert.equal(object.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(object.status.addresses.find((a) => a.type === 'InternalIP')?.address, n.nodeIp);
  });

  it('runs a pod to Ready by its probe, serves it by a Service name, and shows its logs', async () => {
    const n = node as RealNode;
    const ns = 'node-smoke';
    const image = n.images.distroless;
    const server = [
      "const http = require('node:http');",
      "http.createServer((req, res) => { console.log('served ' + req.url); res.end('hello from ' + process.env.HOSTNAME); })",
      ".listen(8080, () => console.log('listening'));",
    ].join('');
    const client = [
      `const url = 'http://echo.${ns}.svc.cluster.local/';`,
      'const deadline = Date.now() + Number(process.env.DEADLINE_MS ?? 60000);',
      '(async () => { for (;;) { try { const r = await fetch(url); console.log(await r.text()); return; }',
      ' catch (e) { if (Date.now() > deadline) { console.error(String(e.cause ?? e)); process.exit(1); }',
      ' await new Promise((r) => setTimeout(r, 500)); } } })();',
    ].join('');
    const manifests = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'echo', namespace: ns, labels: { app: 'echo' } },
        spec: {
          containers: [
            {
              name: 'echo',
              image,
              imagePullPolicy: 'Never',
              command: [NODE, '-e', server],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo', namespace: ns },
        spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ];
    await n.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }),
    );
    const readyStarted = Date.now();
    await n
      .kubectl(['wait', '-n', ns, '--for=condition=Ready', 'pod/echo', '--timeout=180s'])
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnose(n, ns)}`);
      });
    stderrProgress(`echo pod Ready in ${((Date.now() - readyStarted) / 1000).toFixed(1)} s after apply`);

    await n.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: ns },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'client', image, imagePullPolicy: 'Never', command: [NODE, '-e', client] }],
        },
      }),
    );
    const phase = await eventually(
      async () => {
        const { stdout } = await n.kubectl([
          'get',
          'pod',
          '-n',
          ns,
          'client',
          '-o',
          'jsonpath={.status.phase}',
        ]);
        return stdout === 'Succeeded' || stdout === 'Failed' ? stdout : undefined;
      },
      120_000,
      'the client pod to finish',
    );
    const clientLogs = (await n.kubectl(['logs', '-n', ns, 'client'])).stdout;
    if (phase !== 'Succeeded') assert.fail(`client pod failed: ${clientLogs}\n${await diagnose(n, ns)}`);
    assert.match(clientLogs, /hello from echo/);
    const serverLogs = (await n.kubectl(['logs', '-n', ns, 'echo'])).stdout;
    assert.match(serverLogs, /listening/);
    assert.match(serverLogs, /served \/ready/);
    assert.match(serverLogs, /served \/\n/);
  });

  it('enforces a NetworkPolicy on the echo pod (kube-network-policies)', async function () {
    const n = node as RealNode;
    if (!n.enforcesNetworkPolicies) {
      stderrProgress(`NetworkPolicies not enforced: ${await netpolUnsupportedReason()}`);
      this.skip();
    }
    const ns = 'node-smoke';
    const client = [
      `const url = 'http://echo.${ns}.svc.cluster.local/';`,
      'const deadline = Date.now() + Number(process.env.DEADLINE_MS);',
      '(async () => { for (;;) { try { const r = await fetch(url, { signal: AbortSignal.timeout(2000) });',
      ' console.log(await r.text()); return; }',
      ' catch (e) { if (Date.now() > deadline) { console.error(String(e.cause ?? e)); process.exit(1); }',
      ' await new Promise((r) => setTimeout(r, 500)); } } })();',
    ].join('');
    await n.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'echo-allowed-only', namespace: ns },
        spec: {
          podSelector: { matchLabels: { app: 'echo' } },
          policyTypes: ['Ingress'],
          ingress: [{ from: [{ podSelector: { matchLabels: { access: 'allowed' } } }] }],
        },
      }),
    );
    const run = async (name: string, labels: Record<string, string>, deadlineMs: number) => {
      await n.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: ns, labels },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'client',
                image: n.images.distroless,
                imagePullPolicy: 'Never',
                command: [NODE, '-e', client],
                env: [{ name: 'DEADLINE_MS', value: String(deadlineMs) }],
              },
            ],
          },
        }),
      );
      return eventually(
        async () => {
          const { stdout } = await n.kubectl([
            'get',
            'pod',
            '-n',
            ns,
            name,
            '-o',
            'jsonpath={.status.phase}',
          ]);
          return stdout === 'Succeeded' || stdout === 'Failed' ? stdout : undefined;
        },
        deadlineMs + 60_000,
        `pod ${name} to finish`,
      );
    };
    const [denied, allowed] = await Promise.all([
      run('denied', { access: 'denied' }, 8_000),
      run('allowed', { access: 'allowed' }, 30_000),
    ]);
    const logs = async (name: string) => (await n.kubectl(['logs', '-n', ns, name])).stdout;
    assert.equal(allowed, 'Succeeded', `the allowed pod did not get through: ${await logs('allowed')}`);
    assert.equal(denied, 'Failed', `the denied pod got through: ${await logs('denied')}`);
  });

  it('leaves no link, rule, mount or process behind when it stops', async function () {
    if (node === undefined) this.skip();
    const n = node as RealNode;
    const pids = n.pids();
    const dir = n.dir;
    // The /24s' first three octets: 10.77.0., 10.244.0., 10.96.0.
    const prefixes = [n.network.nodeCidr, n.network.podCidr, n.network.serviceCidr].map((cidr) =>
      cidr.split('.').slice(0, 3).join('.').concat('.'),
    );
    const started = Date.now();
    await n.stop();
    stderrProgress(`real node stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const after = await hostSnapshot();
    assert.deepEqual(linkNames(after.links), linkNames(baseline.links));
    assert.deepEqual(rules(after.iptables), rules(baseline.iptables));
    assert.deepEqual(rules(after.ip6tables), rules(baseline.ip6tables));
    // Other work on the machine may change routes meanwhile: only ours are compared.
    const ours = (routes: string) =>
      routes
        .split('\n')
        .filter((line) => /nimbus-/.test(line) || prefixes.some((p) => line.includes(p)))
        .join('\n');
    assert.equal(ours(after.routes), ours(baseline.routes));
    assert.deepEqual(after.paths, baseline.paths);
    assert.deepEqual(after.sysctls, baseline.sysctls);
    assert.equal(after.cgroup, false);
    assert.equal(await exists(dir), false, `${dir} is still there`);
    assert.deepEqual(
      after.mounts.split('\n').filter((line) => line.includes(dir)),
      [],
    );
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.deepEqual(alive, [], 'processes of the node still running');
    const { stdout } = await sh('ps', ['-eo', 'pid,args']);
    assert.deepEqual(
      stdout.split('\n').filter((line) => line.includes(dir) || line.includes('nimbus-node')),
      [],
    );
  });
});
