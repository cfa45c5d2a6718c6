import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { createClusterGateway } from '@nimbus/gateway/cluster/container';
import { KubeClient, loadKubeConfig } from '@nimbus/kube';
import { stateToken } from '@nimbus/store';
import { eventually, send, startRedisServer } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN, type RunningController, startController } from '../harness/controller.js';
import { helm } from '../harness/helm.js';
import { CHART_DIR, REPO_ROOT } from '../harness/install-bundle.js';

const STATE_KEY = 'rbac-suite-state-key-0123456789abcdef';

interface Stored {
  status?: { observedGeneration?: number; conditions?: { type: string; reason?: string }[] };
}

interface StoredSecret {
  metadata?: { managedFields?: { manager?: string; operation?: string }[] };
  data?: Record<string, string>;
}

interface StoredDeployment {
  spec?: { replicas?: number };
  metadata?: { generation?: number; managedFields?: { manager?: string; subresource?: string }[] };
  status?: { observedGeneration?: number };
}

/**
 * The chart's RBAC in use, not only rendered: the chart is installed, and the controller runs
 * with a token of the chart's own ServiceAccount, so a permission the chart forgot fails here.
 */
describe("the controller and the gateway with the chart's service accounts and RBAC", function () {
  this.timeout(10 * 60_000);
  let plane: ControlPlane;
  let release: string;
  let releaseNs: string;
  let functionsNs: string;
  let dir: string;
  let running: RunningController | undefined;

  before(async () => {
    plane = await sharedControlPlane();
    releaseNs = await freshNamespace(plane, 'rbac');
    functionsNs = await freshNamespace(plane, 'rbac-fns');
    release = releaseNs.replace('rbac-', 'nimbus-');
    const installed = await helm(
      [
        'install',
        release,
        CHART_DIR,
        '--skip-crds',
        '--namespace',
        releaseNs,
        '--kubeconfig',
        plane.kubeconfigPath,
      ],
      { cwd: REPO_ROOT },
    );
    assert.equal(installed.code, 0, installed.stderr);
    dir = await mkdtemp(join(tmpdir(), 'nimbus-rbac-'));
  });

  after(async () => {
    await running?.stop();
    await helm(['uninstall', release, '--namespace', releaseNs, '--kubeconfig', plane.kubeconfigPath], {
      cwd: REPO_ROOT,
    });
    await rm(dir, { recursive: true, force: true });
  });

  /** A kubeconfig that authenticates as the chart's ServiceAccount, with a token the API server issued. */
  async function kubeconfigFor(serviceAccount: string): Promise<string> {
    const issued = await plane.request<{ status?: { token?: string } }>(
      'POST',
      `/api/v1/namespaces/${releaseNs}/serviceaccounts/${serviceAccount}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    );
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const admin = plane.kubeconfig() as { users: { user: { token: string } }[] };
    const config = structuredClone(admin);
    const user = config.users[0];
    assert.ok(user !== undefined);
    user.user.token = issued.body.status?.token as string;
    const path = join(dir, `${serviceAccount}.kubeconfig`);
    await writeFile(path, JSON.stringify(config));
    return path;
  }

  /** Whether the chart's ServiceAccount may do `verb` on `resource` in `namespace`, as the API server decides. */
  async function may(
    serviceAccount: string,
    verb: string,
    namespace: string,
    resource: { group: string; resource: string; subresource?: string },
  ): Promise<boolean> {
    const review = await plane.request<{ status?: { allowed?: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${releaseNs}:${serviceAccount}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${releaseNs}`, 'system:authenticated'],
          resourceAttributes: { namespace, verb, ...resource },
        },
      },
    );
    assert.equal(review.status, 201, JSON.stringify(review.body));
    return review.body.status?.allowed === true;
  }

  /** Changes a Function's spec (a new generation, so the controller reconciles it). */
  async function changeSpec(path: string, change: (spec: Record<string, unknown>) => void): Promise<void> {
    const stored = await plane.request<{ spec: Record<string, unknown> }>('GET', path);
    assert.equal(stored.status, 200);
    change(stored.body.spec);
    const replaced = await plane.request('PUT', path, stored.body);
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
  }

  const SCALE = { group: 'apps', resource: 'deployments', subresource: 'scale' };
  const SECRETS = { group: '', resource: 'secrets' };

  it('reconciles, writes status and Events, and holds the Lease with only what the chart grants', async () => {
    const client = new KubeClient(
      loadKubeConfig({ KUBECONFIG: await kubeconfigFor(`${release}-controller`) }),
    );
    running = await startController(
      plane,
      functionsNs,
      {
        NIMBUS_LEADER_ELECTION: 'true',
        NIMBUS_LEASE_NAMESPACE: releaseNs,
        NIMBUS_LEASE_NAME: `${release}-controller`,
        POD_NAME: 'controller-0',
      },
      {},
      client,
    );
    await eventually(() => (running?.controller.isLeader ? true : undefined), 15_000, 'the lease');
    const functions = `/apis/nimbus.dev/v1alpha1/namespaces/${functionsNs}/functions`;
    const doc = (name: string, inline: string) => ({
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name },
      spec: { source: { inline } },
    });
    assert.equal(
      (await plane.request('POST', functions, doc('granted', 'export default () => 1'))).status,
      201,
    );
    // Too large for a ConfigMap: the controller must be allowed to record a Warning Event.
    assert.equal(
      (await plane.request('POST', functions, doc('too-big', `// ${'x'.repeat(1_100_000)}`))).status,
      201,
    );
    await eventually(
      async () => {
        const fn = (await plane.request<Stored>('GET', `${functions}/granted`)).body;
        return fn.status?.conditions?.some((c) => c.type === 'Deployed' && c.reason === 'Applied')
          ? true
          : undefined;
      },
      15_000,
      'the Function to be deployed under the chart RBAC',
    );
    for (const path of [
      `/api/v1/namespaces/${functionsNs}/configmaps/granted-source`,
      `/apis/apps/v1/namespaces/${functionsNs}/deployments/granted`,
      `/api/v1/namespaces/${functionsNs}/services/granted`,
    ]) {
      assert.equal((await plane.request('GET', path)).status, 200, path);
    }
    await eventually(
      async () => {
        const events = await plane.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
          'GET',
          `/api/v1/namespaces/${functionsNs}/events`,
        );
        return events.body.items.some(
          (e) => e.involvedObject.name === 'too-big' && e.reason === 'SourceTooLarge',
        )
          ? true
          : undefined;
      },
      15_000,
      'the Warning Event',
    );
    const errors = await running.registry.getSingleMetric('nimbus_controller_reconcile_errors_total')?.get();
    // A conflict (a write racing the controller's, which its retry reads) is no failure of RBAC.
    assert.deepEqual(
      errors?.values.filter((v) => v.labels.reason !== 'conflict' && v.value > 0),
      [],
      'no request was forbidden',
    );
  });

  it('wakes a Function at zero through deployments/scale with only what the chart grants, and may do no more there', async () => {
    // A controller that starts new Functions at zero, so a wake has replicas to raise.
    await running?.stop();
    running = await startController(
      plane,
      functionsNs,
      {
        NIMBUS_LEADER_ELECTION: 'true',
        NIMBUS_LEASE_NAMESPACE: releaseNs,
        NIMBUS_LEASE_NAME: `${release}-controller`,
        POD_NAME: 'controller-1',
        NIMBUS_AUTOSCALER_INITIAL_SCALE: '0',
        // With a warm pool, the controller also watches pods and keeps the pool's Deployment.
        NIMBUS_WARM_POOL_SIZE: '1',
      },
      {},
      new KubeClient(loadKubeConfig({ KUBECONFIG: await kubeconfigFor(`${release}-controller`) })),
    );
    await eventually(() => (running?.controller.isLeader ? true : undefined), 30_000, 'the lease');
    const created = await plane.request(
      'POST',
      `/apis/nimbus.dev/v1alpha1/namespaces/${functionsNs}/functions`,
      {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'sleepy' },
        spec: {
          source: { inline: 'export default () => 1' },
          scale: { min: 0, max: 2, scaleToZeroAfter: '5m' },
        },
      },
    );
    assert.equal(created.status, 201);
    const deployment = `/apis/apps/v1/namespaces/${functionsNs}/deployments/sleepy`;
    const atZero = await eventually(
      async () => {
        const stored = await plane.request<StoredDeployment>('GET', deployment);
        return stored.status === 200 && stored.body.spec?.replicas === 0 ? stored.body : undefined;
      },
      15_000,
      'the Deployment at zero replicas',
    );
    // Standing in for kube-controller-manager, absent here: the revision is seen. The Function
    // then reads ScaledToZero, so the leader's informer holds the Deployment at zero, and the wake
    // below has replicas to raise rather than leaving them to a reconcile.
    const seen = await plane.request('PUT', `${deployment}/status`, {
      ...atZero,
      status: { observedGeneration: atZero.metadata?.generation },
    });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    await eventually(
      async () => {
        const fn = (
          await plane.request<Stored>(
            'GET',
            `/apis/nimbus.dev/v1alpha1/namespaces/${functionsNs}/functions/sleepy`,
          )
        ).body;
        return fn.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'ScaledToZero')
          ? true
          : undefined;
      },
      15_000,
      'the Function ScaledToZero',
    );
    // The pods informer listed with the chart's grants (the controller is synced), and the
    // namespace with a function at zero has its pool.
    assert.equal(running.functions.synced, true, 'every informer, pods included, has listed');
    const pool = await eventually(
      async () => {
        const reply = await plane.request(
          'GET',
          `/apis/apps/v1/namespaces/${functionsNs}/deployments/nimbus-pool-node20`,
        );
        return reply.status === 200 ? reply : undefined;
      },
      15_000,
      'the warm pool Deployment',
    );
    assert.equal(pool.status, 200);
    // The leader's wake writes the scale before it answers: without the grant it throws a 403.
    const outcome = await running.functions.wake(functionsNs, 'sleepy', 1);
    assert.deepEqual(outcome, { outcome: 'raised', replicas: 1 });
    const stored = (await plane.request<StoredDeployment>('GET', deployment)).body;
    assert.equal(stored.spec?.replicas, 1);
    assert.ok(
      stored.metadata?.managedFields?.some(
        (f) => f.manager === 'nimbus-controller' && f.subresource === 'scale',
      ),
      'written through the scale subresource as nimbus-controller',
    );
    // The one verb it needs, in any namespace it may be told to watch (the chart grants cluster-wide,
    // as watchNamespaces only narrows what the controller watches); nothing else on the subresource.
    const controllerAccount = `${release}-controller`;
    assert.equal(await may(controllerAccount, 'patch', functionsNs, SCALE), true);
    for (const verb of ['get', 'update', 'create', 'delete'])
      assert.equal(await may(controllerAccount, verb, functionsNs, SCALE), false, verb);
    assert.equal(
      await may(`${release}-gateway`, 'patch', functionsNs, SCALE),
      false,
      'the gateway wakes through the controller',
    );
  });

  it("keeps a Function's state Secret (get, create, patch, delete) with only what the chart grants, and may not list or watch Secrets", async () => {
    const password = 'rbac-suite-redis-admin-0123456789';
    const redis = await startRedisServer({ args: ['--requirepass', password] });
    try {
      await running?.stop();
      running = await startController(
        plane,
        functionsNs,
        {
          NIMBUS_LEADER_ELECTION: 'true',
          NIMBUS_LEASE_NAMESPACE: releaseNs,
          NIMBUS_LEASE_NAME: `${release}-controller`,
          POD_NAME: 'controller-2',
          NIMBUS_REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}`,
          NIMBUS_STATE_SERVICE_URL: 'http://nimbus-gateway-state.nimbus.svc:8082',
          NIMBUS_STATE_KEY: STATE_KEY,
        },
        {},
        new KubeClient(loadKubeConfig({ KUBECONFIG: await kubeconfigFor(`${release}-controller`) })),
      );
      await eventually(() => (running?.controller.isLeader ? true : undefined), 30_000, 'the lease');
      const fn = `/apis/nimbus.dev/v1alpha1/namespaces/${functionsNs}/functions/stateful`;
      const secret = `/api/v1/namespaces/${functionsNs}/secrets/stateful-state`;
      const created = await plane.request(
        'POST',
        `/apis/nimbus.dev/v1alpha1/namespaces/${functionsNs}/functions`,
        {
          apiVersion: 'nimbus.dev/v1alpha1',
          kind: 'Function',
          metadata: { name: 'stateful' },
          spec: { source: { inline: 'export default () => 1' }, state: { enabled: true } },
        },
      );
      assert.equal(created.status, 201);
      const tokenReady = (generation: number) =>
        eventually(
          async () => {
            const stored = (await plane.request<Stored & { metadata: { generation: number } }>('GET', fn))
              .body;
            return stored.status?.observedGeneration === generation &&
              stored.status.conditions?.some((c) => c.type === 'StateReady' && c.reason === 'TokenReady')
              ? true
              : undefined;
          },
          15_000,
          `StateReady TokenReady at generation ${generation}`,
        );
      // Read (get), then made (create), under the chart's grants.
      await tokenReady(1);
      const made = await plane.request<StoredSecret>('GET', secret);
      assert.equal(made.status, 200);
      // A Secret holding another token is rewritten by server-side apply (patch).
      made.body.data = { ...made.body.data, token: Buffer.from('x').toString('base64') };
      assert.equal((await plane.request('PUT', secret, made.body)).status, 200);
      await changeSpec(fn, (spec) => {
        spec.scale = { max: 3 };
      });
      await tokenReady(2);
      const rewritten = (await plane.request<StoredSecret>('GET', secret)).body;
      assert.equal(
        Buffer.from(rewritten.data?.token ?? '', 'base64').toString('utf8'),
        stateToken(STATE_KEY, functionsNs, 'stateful'),
      );
      assert.ok(
        rewritten.metadata?.managedFields?.some(
          (f) => f.manager === 'nimbus-controller' && f.operation === 'Apply',
        ),
        'written by server-side apply as nimbus-controller',
      );
      // State off: the controller deletes the Secret.
      await changeSpec(fn, (spec) => {
        spec.state = { enabled: false };
      });
      await eventually(
        async () => ((await plane.request('GET', secret)).status === 404 ? true : undefined),
        15_000,
        'the state Secret deleted',
      );
      const errors = await running.registry
        .getSingleMetric('nimbus_controller_reconcile_errors_total')
        ?.get();
      assert.deepEqual(
        errors?.values.filter((v) => v.labels.reason !== 'conflict' && v.value > 0),
        [],
        'no request was forbidden',
      );
      // Exactly those verbs, in any namespace it may be told to watch: it names each Secret it reads,
      // so it can never list or watch the Secrets of a namespace (nor update them wholesale).
      const controllerAccount = `${release}-controller`;
      for (const verb of ['get', 'create', 'patch', 'delete'])
        assert.equal(await may(controllerAccount, verb, functionsNs, SECRETS), true, verb);
      for (const verb of ['list', 'watch', 'update', 'deletecollection'])
        assert.equal(await may(controllerAccount, verb, functionsNs, SECRETS), false, verb);
      for (const verb of ['get', 'list'])
        assert.equal(await may(`${release}-gateway`, verb, functionsNs, SECRETS), false, `gateway ${verb}`);
    } finally {
      await running?.stop();
      running = undefined;
      await redis.stop();
    }
  });

  it('serves and changes Functions through the gateway with only what the chart grants', async () => {
    const adminKey = 'admin-key-for-the-rbac-suite';
    const config = loadClusterConfig({
      KUBECONFIG: await kubeconfigFor(`${release}-gateway`),
      NIMBUS_WATCH_NAMESPACES: functionsNs,
      NIMBUS_API_KEYS: `admin:${adminKey}`,
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
    });
    const gateway = createClusterGateway(config, { logger: createLogger({}, 'error', () => {}) });
    const { port } = await gateway.server.listen();
    gateway.start();
    const base = `http://127.0.0.1:${port}`;
    const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
    try {
      // Ready means both informers listed: Functions and EndpointSlices may be listed and watched.
      await eventually(
        async () => ((await send(base, '/readyz')).status === 200 ? true : undefined),
        15_000,
        '/readyz',
      );
      const created = await send(base, `/system/functions?namespace=${functionsNs}`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({
          apiVersion: 'nimbus.dev/v1alpha1',
          kind: 'Function',
          metadata: { name: 'via-gateway' },
          spec: { source: { inline: 'export default () => 1' } },
        }),
      });
      assert.equal(created.status, 201, created.body.toString());
      const listed = await eventually(
        async () => {
          const reply = await send(base, `/system/functions?namespace=${functionsNs}`, { headers: admin });
          const names = reply.json<{ metadata: { name: string } }[]>().map((f) => f.metadata.name);
          return names.includes('via-gateway') ? names : undefined;
        },
        10_000,
        'the created Function in the list',
      );
      assert.ok(listed.includes('granted'));
      const deleted = await send(base, `/system/functions/via-gateway?namespace=${functionsNs}`, {
        method: 'DELETE',
        headers: admin,
      });
      assert.ok(deleted.status === 202 || deleted.status === 204, `DELETE answered ${deleted.status}`);
    } finally {
      await gateway.stop(1000);
    }
  });
});
