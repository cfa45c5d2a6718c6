import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually, send } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import {
  GATEWAY_URL,
  REPORT_TOKEN,
  RUNTIME_IMAGE,
  type RunningController,
  startController,
} from '../harness/controller.js';
import { helm } from '../harness/helm.js';
import { CHART_DIR, REPO_ROOT } from '../harness/install-bundle.js';

const CONTROLLER_MAIN = fileURLToPath(
  new URL('../../../../controller/dist/src/cluster/main.js', import.meta.url),
);
const GATEWAY_MAIN = fileURLToPath(new URL('../../../../gateway/dist/src/cluster/main.js', import.meta.url));

interface StoredDeployment {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
}

/** Runs a component's main until it exits; resolves its exit code and everything it wrote. */
function runToExit(
  main: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

/**
 * Attack: any pod that reaches the controller's port forges a concurrency report (scaling a
 * function to its max), wakes a function at zero, or reads which functions exist and how busy
 * they are. Every route asks for the report token; the controller and the gateway do not start
 * without one (the gateway even when told of no controller); the chart always provides one.
 */
describe('security: the controller endpoints need the report token', function () {
  this.timeout(3 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let controller: RunningController;
  let deployment: string;

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'sec-token');
    controller = await startController(plane, namespace, { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0' });
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'victim' },
        spec: {
          source: { inline: 'export default () => 1' },
          scale: { min: 0, max: 5, scaleToZeroAfter: '5m' },
        },
      },
    );
    assert.equal(created.status, 201);
    deployment = `/apis/apps/v1/namespaces/${namespace}/deployments/victim`;
    const atZero = await eventually(
      async () => {
        const stored = await plane.request<StoredDeployment>('GET', deployment);
        return stored.status === 200 && stored.body.spec?.replicas === 0 ? stored.body : undefined;
      },
      15_000,
      'the Deployment at zero',
    );
    // Standing in for kube-controller-manager: the revision is seen, so the function reads ScaledToZero
    // and a wake has replicas to raise.
    const seen = await plane.request('PUT', `${deployment}/status`, {
      ...atZero,
      status: { observedGeneration: atZero.metadata?.generation },
    });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
  });

  after(async () => {
    await controller?.stop();
  });

  const replicas = async () => (await plane.request<StoredDeployment>('GET', deployment)).body.spec?.replicas;
  const key = () => `${namespace}/victim`;
  const withToken = (token: string | undefined): Record<string, string> => ({
    'content-type': 'application/json',
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
  });
  /** The credentials an attacker tries: none, a wrong token, the right one under another scheme, a prefix. */
  const forged: [string, Record<string, string>, number][] = [
    ['no token', withToken(undefined), 401],
    ['a wrong token', withToken('a-wrong-token-of-enough-length'), 403],
    [
      'the token as Basic',
      { 'content-type': 'application/json', authorization: `Basic ${REPORT_TOKEN}` },
      403,
    ],
    ['a prefix of the token', withToken(REPORT_TOKEN.slice(0, 8)), 403],
  ];

  const view = async () =>
    (await send(controller.base, '/v1/concurrency', { headers: withToken(REPORT_TOKEN) })).json<{
      reporters: string[];
      functions: Record<string, number>;
    }>();

  it('refuses a forged POST /v1/reports (401/403 JSON) and keeps nothing of it', async () => {
    const body = JSON.stringify({
      reporter: 'intruder',
      functions: { [key()]: { inflight: 1000, held: 1000 } },
    });
    for (const [what, headers, status] of forged) {
      const reply = await send(controller.base, '/v1/reports', { method: 'POST', headers, body });
      assert.equal(reply.status, status, what);
      assert.match(String(reply.headers['content-type']), /^application\/json/, what);
      assert.equal(
        reply.json<{ error: string }>().error,
        status === 401 ? 'Unauthenticated' : 'Forbidden',
        what,
      );
    }
    // The same report with the token is taken: the view is where a forged one would have shown.
    const honest = await send(controller.base, '/v1/reports', {
      method: 'POST',
      headers: withToken(REPORT_TOKEN),
      body: JSON.stringify({ reporter: 'gateway-0', functions: { [key()]: { inflight: 0, held: 0 } } }),
    });
    assert.equal(honest.status, 204);
    const seen = await view();
    assert.deepEqual(seen.reporters, ['gateway-0'], 'the intruder never counted');
    assert.equal(seen.functions[key()], 0);
    assert.equal(await replicas(), 0, 'the function stays at zero');
  });

  it('refuses a forged POST /v1/wake and leaves the replicas at zero; with the token the same wake raises them', async () => {
    const body = JSON.stringify({ function: key(), held: 1000 });
    for (const [what, headers, status] of forged) {
      const reply = await send(controller.base, '/v1/wake', { method: 'POST', headers, body });
      assert.equal(reply.status, status, what);
      assert.equal(
        reply.json<{ error: string }>().error,
        status === 401 ? 'Unauthenticated' : 'Forbidden',
        what,
      );
    }
    // The leader writes the scale before it answers: a wake that got through would show now.
    assert.equal(await replicas(), 0, 'no forged wake raised the replicas');
    const woken = await eventually(
      async () => {
        const reply = await send(controller.base, '/v1/wake', {
          method: 'POST',
          headers: withToken(REPORT_TOKEN),
          body,
        });
        return reply.status === 200 ? reply : undefined;
      },
      15_000,
      'the wake with the token',
    );
    // What the forged wake asked for: the function at its max, 5.
    assert.deepEqual(woken.json(), { outcome: 'raised', replicas: 5 });
    assert.equal(await replicas(), 5);
  });

  it('refuses GET /v1/concurrency without the token, telling nothing of the functions', async () => {
    for (const [what, headers, status] of forged) {
      const reply = await send(controller.base, '/v1/concurrency', { headers });
      assert.equal(reply.status, status, what);
      assert.equal(
        reply.json<{ error: string }>().error,
        status === 401 ? 'Unauthenticated' : 'Forbidden',
        what,
      );
      assert.doesNotMatch(reply.text, /victim|gateway-0/, what);
    }
    assert.equal(
      (await send(controller.base, '/v1/concurrency', { headers: withToken(REPORT_TOKEN) })).status,
      200,
    );
  });

  it('a controller started in a cluster without NIMBUS_REPORT_TOKEN exits 1 naming it', async () => {
    for (const token of [undefined, '']) {
      const { code, output } = await runToExit(CONTROLLER_MAIN, {
        KUBECONFIG: plane.kubeconfigPath,
        NIMBUS_WATCH_NAMESPACES: namespace,
        NIMBUS_RUNTIME_IMAGE: RUNTIME_IMAGE,
        NIMBUS_GATEWAY_URL: GATEWAY_URL,
        NIMBUS_LEADER_ELECTION: 'false',
        NIMBUS_METRICS_HOST: '127.0.0.1',
        NIMBUS_METRICS_PORT: '0',
        ...(token === undefined ? {} : { NIMBUS_REPORT_TOKEN: token }),
      });
      assert.equal(code, 1, output);
      assert.match(output, /NIMBUS_REPORT_TOKEN: must be set/);
      assert.doesNotMatch(output, /\n\s+at /, 'one line naming the key, no stack trace');
    }
  });

  it('a gateway started in a cluster without NIMBUS_REPORT_TOKEN exits 1 naming it, told of controllers or not', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['told of controllers, no token', { NIMBUS_CONTROLLER_URLS: controller.base }, /must be set/],
      ['told of none, no token', {}, /must be set/],
      ['an empty token', { NIMBUS_REPORT_TOKEN: '' }, /must be set/],
      ['a short token', { NIMBUS_REPORT_TOKEN: 'short' }, /at least 16 characters/],
    ];
    for (const [what, env, reason] of cases) {
      const { code, output } = await runToExit(GATEWAY_MAIN, {
        KUBECONFIG: plane.kubeconfigPath,
        NIMBUS_WATCH_NAMESPACES: namespace,
        HOST: '127.0.0.1',
        PORT: '0',
        ...env,
      });
      assert.equal(code, 1, `${what}: ${output}`);
      assert.match(output, /NIMBUS_REPORT_TOKEN: /, what);
      assert.match(output, reason, what);
      assert.doesNotMatch(output, /\n\s+at /, `${what}: one line naming the key, no stack trace`);
      assert.doesNotMatch(output, /listening/i, `${what}: it never served`);
    }
    // Nothing else was disturbed: the controller still takes the honest gateway's calls.
    const view = await send(controller.base, '/v1/concurrency', { headers: withToken(REPORT_TOKEN) });
    assert.equal(view.status, 200);
  });

  it('the chart always provides the token, and refuses an operator Secret without it', async () => {
    const rendered = await helm(
      [
        'template',
        'nimbus',
        CHART_DIR,
        '--namespace',
        'nimbus',
        '--set',
        'gateway.apiKeys.existingSecret=my-keys',
      ],
      { cwd: REPO_ROOT },
    );
    assert.equal(rendered.code, 0, rendered.stderr);
    // Required in the operator's Secret: a pod never starts with the token quietly missing.
    assert.doesNotMatch(rendered.stdout, /key: report-token\s+optional: true/);
    assert.equal(rendered.stdout.match(/key: report-token/g)?.length, 2, 'the controller and the gateway');

    const releaseNs = await freshNamespace(plane, 'sec-chart');
    const keys = await plane.request('POST', `/api/v1/namespaces/${releaseNs}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'my-keys' },
      stringData: { 'api-keys': `admin:${'a'.repeat(32)}`, 'redis-password': 'p'.repeat(32) },
    });
    assert.equal(keys.status, 201);
    const installed = await helm(
      [
        'install',
        releaseNs.replace('sec-chart-', 'nimbus-'),
        CHART_DIR,
        '--skip-crds',
        '--namespace',
        releaseNs,
        '--set',
        'gateway.apiKeys.existingSecret=my-keys',
        '--kubeconfig',
        plane.kubeconfigPath,
      ],
      { cwd: REPO_ROOT },
    );
    assert.notEqual(installed.code, 0, 'the install must fail');
    assert.match(installed.stderr, /Secret my-keys has no key report-token/);
    const controllers = await plane.request<{ items: unknown[] }>(
      'GET',
      `/apis/apps/v1/namespaces/${releaseNs}/deployments`,
    );
    assert.deepEqual(controllers.body.items, [], 'nothing was installed');
  });
});
