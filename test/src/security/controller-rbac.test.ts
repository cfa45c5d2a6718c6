import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { createClusterGateway } from '@nimbus/gateway/cluster/container';
import { KubeClient, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN, type RunningController, startController } from '../harness/controller.js';
import { helm } from '../harness/helm.js';
import { CHART_DIR, REPO_ROOT } from '../harness/install-bundle.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface StoredFunction {
  metadata: { generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}
interface StoredDeployment {
  spec?: { template?: { spec?: { volumes?: { name: string; secret?: { secretName: string } }[] } } };
}

/**
 * Attack: the Nimbus admin key (or a compromised controller or gateway) reaching Secrets and Pods
 * in namespaces Nimbus does not serve, and a Function reading any Secret of its namespace by
 * naming it in spec.secrets. The chart is installed with watchNamespaces=[a] on the real API
 * server; the controller and the gateway run with tokens of the chart's own ServiceAccounts.
 */
describe('security: the controller and gateway reach only the watched namespaces, and mount only Secrets that opt in', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let releaseNs: string;
  let release: string;
  let watched: string;
  let other: string;
  let dir: string;
  let running: RunningController | undefined;
  const kubeconfigs = new Map<string, string>();

  before(async () => {
    plane = await sharedControlPlane();
    releaseNs = await freshNamespace(plane, 'sec-rbac');
    watched = await freshNamespace(plane, 'sec-a');
    other = await freshNamespace(plane, 'sec-b');
    release = releaseNs.replace('sec-rbac-', 'nimbus-');
    dir = await mkdtemp(join(tmpdir(), 'nimbus-sec-rbac-'));
    const installed = await helm(
      [
        'install',
        release,
        CHART_DIR,
        '--skip-crds',
        '--namespace',
        releaseNs,
        '--set',
        `watchNamespaces={${watched}}`,
        '--kubeconfig',
        plane.kubeconfigPath,
      ],
      { cwd: REPO_ROOT },
    );
    assert.equal(installed.code, 0, installed.stderr);
    // A Secret and a Pod in each namespace: what a stolen grant would be used on.
    for (const namespace of [watched, other]) {
      const secret = await plane.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'database' },
        stringData: { password: `password-of-${namespace}` },
      });
      assert.equal(secret.status, 201, JSON.stringify(secret.body));
    }
  });

  after(async () => {
    await running?.stop();
    await helm(['uninstall', release, '--namespace', releaseNs, '--kubeconfig', plane.kubeconfigPath], {
      cwd: REPO_ROOT,
    });
    await rm(dir, { recursive: true, force: true });
  });

  const account = (component: 'controller' | 'gateway') => `${release}-${component}`;

  /** A kubeconfig authenticating as the chart's ServiceAccount, with a token the API server issued. */
  async function kubeconfigFor(serviceAccount: string): Promise<string> {
    const known = kubeconfigs.get(serviceAccount);
    if (known !== undefined) return known;
    const issued = await plane.request<{ status?: { token?: string } }>(
      'POST',
      `/api/v1/namespaces/${releaseNs}/serviceaccounts/${serviceAccount}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    );
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const config = structuredClone(plane.kubeconfig()) as { users: { user: { token: string } }[] };
    const user = config.users[0];
    assert.ok(user !== undefined);
    user.user.token = issued.body.status?.token as string;
    const path = join(dir, `${serviceAccount}.kubeconfig`);
    await writeFile(path, JSON.stringify(config));
    kubeconfigs.set(serviceAccount, path);
    return path;
  }

  async function may(serviceAccount: string, verb: string, namespace: string, resource: string, group = '') {
    const review = await plane.request<{ status?: { allowed?: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${releaseNs}:${serviceAccount}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`, 'system:authenticated'],
          resourceAttributes: { namespace, verb, resource, group },
        },
      },
    );
    assert.equal(review.status, 201, JSON.stringify(review.body));
    return review.body.status?.allowed === true;
  }

  it('renders no cluster-wide grant: Roles in the watched namespace only', async () => {
    for (const component of ['controller', 'gateway'] as const) {
      for (const kind of ['clusterroles', 'clusterrolebindings']) {
        const reply = await plane.request(
          'GET',
          `/apis/rbac.authorization.k8s.io/v1/${kind}/${account(component)}`,
        );
        assert.equal(reply.status, 404, `${kind}/${account(component)} must not exist`);
      }
      const role = await plane.request(
        'GET',
        `/apis/rbac.authorization.k8s.io/v1/namespaces/${watched}/roles/${account(component)}`,
      );
      assert.equal(role.status, 200, `the ${component}'s Role in ${watched}`);
    }
  });

  it('the controller may not read or write Secrets, nor delete Pods, outside the watched namespace (SubjectAccessReview)', async () => {
    const controller = account('controller');
    for (const verb of ['get', 'create', 'patch', 'delete']) {
      assert.equal(await may(controller, verb, watched, 'secrets'), true, `${verb} secrets in ${watched}`);
      assert.equal(await may(controller, verb, other, 'secrets'), false, `${verb} secrets in ${other}`);
    }
    for (const verb of ['list', 'watch']) {
      assert.equal(await may(controller, verb, watched, 'secrets'), false, `never ${verb} secrets`);
    }
    assert.equal(await may(controller, 'delete', watched, 'pods'), true);
    assert.equal(await may(controller, 'delete', other, 'pods'), false);
    assert.equal(await may(controller, 'patch', other, 'deployments', 'apps'), false);
    // Nor anything in a namespace no one named, cluster-scoped or not.
    assert.equal(await may(controller, 'list', '', 'secrets'), false, 'no cluster-wide list');
    assert.equal(await may(controller, 'get', '', 'nodes'), false);
  });

  it('the gateway may manage Functions in the watched namespace only, and never touch Secrets', async () => {
    const gateway = account('gateway');
    assert.equal(await may(gateway, 'create', watched, 'functions', 'nimbus.dev'), true);
    assert.equal(await may(gateway, 'create', other, 'functions', 'nimbus.dev'), false);
    assert.equal(await may(gateway, 'list', other, 'endpointslices', 'discovery.k8s.io'), false);
    for (const namespace of [watched, other]) {
      assert.equal(
        await may(gateway, 'get', namespace, 'secrets'),
        false,
        `gateway get secrets in ${namespace}`,
      );
    }
  });

  it("with the chart's tokens, real requests for the other namespace's Secret and Pods are forbidden", async () => {
    const controller = new KubeClient(
      loadKubeConfig({ KUBECONFIG: await kubeconfigFor(account('controller')) }),
    );
    const gateway = new KubeClient(loadKubeConfig({ KUBECONFIG: await kubeconfigFor(account('gateway')) }));
    try {
      const code = (p: Promise<unknown>) =>
        p.then(
          () => 200,
          (err: { code?: number }) => err.code,
        );
      assert.equal(await code(controller.get(RESOURCES.secrets, other, 'database')), 403, 'read in b');
      assert.equal(
        await code(controller.mergePatch(RESOURCES.secrets, other, 'database', { data: { x: 'eA==' } })),
        403,
        'write in b',
      );
      assert.equal(await code(controller.delete(RESOURCES.pods, other, 'any-pod')), 403, 'delete a Pod in b');
      assert.equal(await code(gateway.get(RESOURCES.secrets, watched, 'database')), 403, 'gateway read in a');
      // In the watched namespace the controller's grant works (get by name; a Pod that is not there is 404).
      assert.equal(await code(controller.get(RESOURCES.secrets, watched, 'database')), 200, 'read in a');
      assert.equal(await code(controller.delete(RESOURCES.pods, watched, 'no-such-pod')), 404, 'delete in a');
      const password = await plane.request<{ data: Record<string, string> }>(
        'GET',
        `/api/v1/namespaces/${other}/secrets/database`,
      );
      assert.equal(
        Buffer.from(password.body.data.password ?? '', 'base64').toString(),
        `password-of-${other}`,
        'the other namespace Secret is untouched',
      );
    } finally {
      controller.close();
      gateway.close();
    }
  });

  it('an admin key cannot create a Function in the unwatched namespace through the gateway', async () => {
    const adminKey = 'admin-key-for-the-security-suite';
    const config = loadClusterConfig({
      KUBECONFIG: await kubeconfigFor(account('gateway')),
      NIMBUS_WATCH_NAMESPACES: watched,
      NIMBUS_API_KEYS: `admin:${adminKey}`,
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
    });
    const gateway = createClusterGateway(config, { logger: createLogger({}, 'error', () => {}) });
    const { port } = await gateway.server.listen();
    gateway.start();
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually(
        async () => ((await send(base, '/readyz')).status === 200 ? true : undefined),
        15_000,
        '/readyz',
      );
      const created = await send(base, `/system/functions?namespace=${other}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'nimbus.dev/v1alpha1',
          kind: 'Function',
          metadata: { name: 'thief' },
          spec: { source: { inline: 'export default () => 1' }, secrets: ['database'] },
        }),
      });
      assert.ok(created.status >= 400 && created.status < 500, `answered ${created.status}`);
      assert.equal(created.json<{ code?: string }>().code, 'NamespaceNotWatched', 'a JSON body says why');
      const stored = await plane.request(
        'GET',
        `/apis/nimbus.dev/v1alpha1/namespaces/${other}/functions/thief`,
      );
      assert.equal(stored.status, 404, 'no Function was stored');
    } finally {
      await gateway.stop(1000);
    }
  });

  it('a Function naming a Secret that does not opt in gets no volume, a condition and an Event naming spec.secrets[i]', async () => {
    const labelled = await plane.request('POST', `/api/v1/namespaces/${watched}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'api-token', labels: { 'nimbus.dev/function-secret': 'true' } },
      stringData: { token: 'for-the-function' },
    });
    assert.equal(labelled.status, 201);
    running = await startController(
      plane,
      watched,
      { NIMBUS_LEASE_NAMESPACE: releaseNs },
      {},
      new KubeClient(loadKubeConfig({ KUBECONFIG: await kubeconfigFor(account('controller')) })),
    );
    const functions = `/apis/nimbus.dev/v1alpha1/namespaces/${watched}/functions`;
    const created = await plane.request('POST', functions, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name: 'reader' },
      spec: {
        source: { inline: 'export default () => 1' },
        secrets: ['database', 'api-token', 'missing'],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const condition = await eventually(
      async () => {
        const fn = (await plane.request<StoredFunction>('GET', `${functions}/reader`)).body;
        return fn.status?.conditions?.find((c) => c.type === 'SecretsMounted');
      },
      15_000,
      'the SecretsMounted condition',
    );
    assert.equal(condition.status, 'False');
    assert.match(condition.message ?? '', /spec\.secrets\[0\]: Secret database does not opt in/);
    assert.match(condition.message ?? '', /spec\.secrets\[2\]: no Secret missing/);
    assert.doesNotMatch(condition.message ?? '', /spec\.secrets\[1\]/);
    const volumes = async () =>
      (
        await plane.request<StoredDeployment>('GET', `/apis/apps/v1/namespaces/${watched}/deployments/reader`)
      ).body.spec?.template?.spec?.volumes
        ?.filter((v) => v.secret !== undefined)
        .map((v) => v.secret?.secretName);
    assert.deepEqual(await eventually(volumes, 15_000, 'the Deployment'), ['api-token']);
    const event = await eventually(
      async () => {
        const events = await plane.request<{
          items: { reason: string; type: string; message: string; involvedObject: { name: string } }[];
        }>('GET', `/api/v1/namespaces/${watched}/events`);
        return events.body.items.find(
          (e) => e.involvedObject.name === 'reader' && e.reason === 'SecretNotOptedIn',
        );
      },
      15_000,
      'the Warning Event',
    );
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /^spec\.secrets\[0\]: /);

    // The Secret's owner opts in: the next reconcile mounts it (a spec change stands in for the resync).
    const secretPath = `/api/v1/namespaces/${watched}/secrets/database`;
    const secret = (await plane.request<{ metadata: { labels?: Record<string, string> } }>('GET', secretPath))
      .body;
    secret.metadata.labels = { ...secret.metadata.labels, 'nimbus.dev/function-secret': 'true' };
    const label = await plane.request('PUT', secretPath, secret);
    assert.equal(label.status, 200, JSON.stringify(label.body));
    const stored = (await plane.request<{ spec: Record<string, unknown> }>('GET', `${functions}/reader`))
      .body;
    stored.spec.secrets = ['database', 'api-token'];
    assert.equal((await plane.request('PUT', `${functions}/reader`, stored)).status, 200);
    await eventually(
      async () => ((await volumes())?.join(',') === 'database,api-token' ? true : undefined),
      15_000,
      'both Secrets mounted once both opt in',
    );
    // A reconcile may still fail on a conflict: the test's own writes to the Function race the
    // controller's status write, and the retry reads them. Anything else is a failure here.
    const errors = await running.registry.getSingleMetric('nimbus_controller_reconcile_errors_total')?.get();
    assert.deepEqual(
      errors?.values.filter((v) => v.labels.reason !== 'conflict' && v.value > 0),
      [],
      'reading the labels needed nothing the chart does not grant',
    );
  });
});
