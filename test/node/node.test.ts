import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { eventually } from '@nimbus/testkit';
import { exists, sh, stderrProgress, unsupportedReason } from './harness/host.js';
import { CGROUP_ROOT, readSysctls } from './harness/kubelet.js';
import { hostPathsNow } from './harness/leftovers.js';
import { netpolUnsupportedReason } from './harness/netpol.js';
import type { RealNode } from './harness/node.js';
import { runToCompletion } from './harness/pods.js';
import { sharedNode } from './harness/shared-node.js';

/**
 * The real node itself, before any chart goes on it: it registers Ready, runs a pod of our own
 * image to Ready by its probe, gives pods cluster DNS and Services, serves `kubectl logs`, and
 * leaves nothing behind when it stops.
 */

const reason = unsupportedReason();
/** Node in the distroless stand-in (its entrypoint). */
const NODE = '/nodejs/bin/node';

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

  before(async function () {
    if (reason !== undefined) {
      this.skip();
      return;
    }
    node = await sharedNode();
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

    const { phase, logs: clientLogs } = await runToCompletion(n, ns, 'client', image, ['-e', client]);
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
    const run = (name: string, labels: Record<string, string>, deadlineMs: number) =>
      runToCompletion(n, ns, name, n.images.distroless, ['-e', client], {
        labels,
        env: { DEADLINE_MS: String(deadlineMs) },
        ms: deadlineMs + 60_000,
      });
    const [denied, allowed] = await Promise.all([
      run('denied', { access: 'denied' }, 8_000),
      run('allowed', { access: 'allowed' }, 30_000),
    ]);
    assert.equal(allowed.phase, 'Succeeded', `the allowed pod did not get through: ${allowed.logs}`);
    assert.equal(denied.phase, 'Failed', `the denied pod got through: ${denied.logs}`);
  });
});
