import assert from 'node:assert/strict';
import type { FunctionResource } from '@nimbus/api';
import { FIELD_MANAGER, type FunctionCleanup } from '@nimbus/controller';
import { KubeClient, type KubeObject, loadKubeConfig } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import type { ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, sharedControlPlane } from '../harness/control-plane/shared.js';
import {
  RUNTIME_IMAGE,
  type RunningController,
  counterValue,
  startController,
} from '../harness/controller.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}
interface Stored extends FunctionResource {
  metadata: FunctionResource['metadata'] & { finalizers?: string[]; deletionTimestamp?: string };
}
interface Deployment {
  metadata: {
    generation: number;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: { manager: string; operation: string }[];
  };
  spec: {
    replicas: number;
    template: {
      metadata: { annotations: Record<string, string> };
      spec: { containers: { image: string; env: { name: string; value: string }[] }[] };
    };
  };
}

const fnDoc = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: 'export default () => "hi"' }, ...spec },
});

/** Plays kube-controller-manager for one Deployment: its replicas of the current generation are ready. */
async function markDeploymentReady(
  plane: ControlPlane,
  namespace: string,
  name: string,
  ready?: number,
): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
  const d = await plane.request<Deployment>('GET', path);
  const n = d.body.spec.replicas;
  const up = ready ?? n;
  const reply = await plane.request('PUT', `${path}/status`, {
    ...d.body,
    status: {
      observedGeneration: d.body.metadata.generation,
      replicas: n,
      updatedReplicas: n,
      readyReplicas: up,
      availableReplicas: up,
    },
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
}

describe('the controller on a real API server', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;
  let running: RunningController;
  const FUNCTIONS = () => `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
  const DEPLOYMENTS = () => `/apis/apps/v1/namespaces/${namespace}/deployments`;

  const create = async (name: string, spec: Record<string, unknown> = {}) => {
    const reply = await plane.request<Stored>('POST', FUNCTIONS(), fnDoc(name, spec));
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    return reply.body;
  };
  const getFn = async (name: string) => (await plane.request<Stored>('GET', `${FUNCTIONS()}/${name}`)).body;
  const condition = (fn: Stored, type: string) =>
    (fn.status?.conditions as Condition[] | undefined)?.find((c) => c.type === type);
  /** Polls until the Function's condition has the reason (and the status is current). */
  const untilCondition = (name: string, type: string, reason: string) =>
    eventually(
      async () => {
        const fn = await getFn(name);
        const c = condition(fn, type);
        return c?.reason === reason && fn.status?.observedGeneration === fn.metadata.generation
          ? fn
          : undefined;
      },
      15_000,
      `${name}: ${type} with reason ${reason}`,
    );
  const getDeployment = async (name: string) => {
    const reply = await plane.request<Deployment>('GET', `${DEPLOYMENTS()}/${name}`);
    return reply.status === 200 ? reply.body : undefined;
  };

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'controller');
    running = await startController(plane, namespace);
  });

  after(async () => {
    await running?.stop();
  });

  it('makes the ConfigMap, Deployment and Service of a Function, owned by it and applied as nimbus-controller', async () => {
    const fn = await create('hello');
    const deployment = await eventually(() => getDeployment('hello'), 15_000, 'the Deployment');
    assert.deepEqual(
      deployment.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['Function', 'hello', fn.metadata.uid, true]],
    );
    assert.ok(
      deployment.metadata.managedFields?.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply'),
      'applied server-side by nimbus-controller',
    );
    assert.equal(deployment.spec.template.spec.containers[0]?.image, RUNTIME_IMAGE);
    // The Service is applied last: once it is there, all three are.
    const service = await eventually(
      async () => {
        const reply = await plane.request<{ spec: { selector: Record<string, string> } }>(
          'GET',
          `/api/v1/namespaces/${namespace}/services/hello`,
        );
        return reply.status === 200 ? reply : undefined;
      },
      10_000,
      'the Service',
    );
    const source = await plane.request<{ data: Record<string, string> }>(
      'GET',
      `/api/v1/namespaces/${namespace}/configmaps/hello-source`,
    );
    assert.equal(source.status, 200);
    assert.deepEqual(source.body.data, { 'index.mjs': 'export default () => "hi"' });
    assert.deepEqual(service.body.spec.selector, { 'nimbus.dev/function': 'hello' });
  });

  it('reports Deployed, and Ready only once the Deployment has ready replicas, with the URL', async () => {
    // No kube-controller-manager runs here: the Deployment's status stays empty until the test
    // writes it, as that controller would.
    const waiting = await untilCondition('hello', 'Ready', 'Deploying');
    assert.equal(condition(waiting, 'Deployed')?.status, 'True');
    assert.equal(condition(waiting, 'Ready')?.status, 'False');
    assert.equal(waiting.status?.observedGeneration, 1);
    assert.equal(waiting.status?.url, `http://nimbus-gateway.nimbus.svc:8080/function/hello.${namespace}`);
    await markDeploymentReady(plane, namespace, 'hello', 0);
    await untilCondition('hello', 'Ready', 'NoReadyReplicas');
    await markDeploymentReady(plane, namespace, 'hello');
    const ready = await untilCondition('hello', 'Ready', 'ReplicasReady');
    assert.equal(condition(ready, 'Ready')?.status, 'True');
    assert.equal(ready.status?.readyReplicas, 1);
    assert.equal(ready.status?.replicas, 1);
  });

  it('never touches the Deployment for an unchanged spec, and rolls it for a changed one', async () => {
    const before = await eventually(() => getDeployment('hello'), 5000, 'the Deployment');
    const appliesBefore = await counterValue(running.registry, 'nimbus_controller_applies_total');
    const reconcilesBefore = await counterValue(running.registry, 'nimbus_controller_reconciles_total');
    // Another tool's label makes the controller look at the Function again. (A label, since a
    // Deployment's generation counts annotation changes too.)
    const annotated = await mergePatch(plane, `${DEPLOYMENTS()}/hello?fieldManager=kubectl-label`, {
      metadata: { labels: { 'team.example/owner': 'ops' } },
    });
    assert.equal(annotated.status, 200, JSON.stringify(annotated.body));
    await eventually(
      async () =>
        (await counterValue(running.registry, 'nimbus_controller_reconciles_total')) > reconcilesBefore
          ? true
          : undefined,
      10_000,
      'a reconcile',
    );
    const unchanged = await getDeployment('hello');
    assert.equal(unchanged?.metadata.generation, before.metadata.generation, 'no spec write');
    assert.equal(unchanged?.metadata.labels?.['team.example/owner'], 'ops', "another manager's field stays");
    assert.equal(await counterValue(running.registry, 'nimbus_controller_applies_total'), appliesBefore);

    // A merge patch: the controller's own status writes move the resourceVersion under a PUT.
    const patched = await mergePatch(plane, `${FUNCTIONS()}/hello`, {
      spec: { env: [{ name: 'GREETING', value: 'hej' }] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const rolled = await eventually(
      async () => {
        const d = await getDeployment('hello');
        return d !== undefined && d.metadata.generation > before.metadata.generation ? d : undefined;
      },
      10_000,
      'the new revision',
    );
    const hash = (d: Deployment) => d.spec.template.metadata.annotations['nimbus.dev/spec-hash'];
    assert.notEqual(hash(rolled), hash(before));
    assert.ok(
      rolled.spec.template.spec.containers[0]?.env.some((e) => e.name === 'GREETING' && e.value === 'hej'),
    );
    const current = await untilCondition('hello', 'Ready', 'Deploying');
    assert.equal(current.status?.observedGeneration, 2);
  });

  it('puts back a Deployment edited by hand', async () => {
    const reply = await mergePatch(plane, `${DEPLOYMENTS()}/hello?fieldManager=kubectl-edit`, {
      spec: { template: { spec: { containers: [{ name: 'function', image: 'evil/image:1' }] } } },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const restored = await eventually(
      async () => {
        const d = await getDeployment('hello');
        return d?.spec.template.spec.containers[0]?.image === RUNTIME_IMAGE ? d : undefined;
      },
      10_000,
      'the image to be put back',
    );
    assert.equal(restored.spec.template.spec.containers.length, 1);
  });

  it('reports an inline source over the ConfigMap limit as not Ready with the reason and an Event, without retrying', async () => {
    await create('huge', { source: { inline: `export default () => "${'x'.repeat(1_100_000)}"` } });
    const fn = await untilCondition('huge', 'Ready', 'SourceTooLarge');
    assert.match(
      condition(fn, 'Ready')?.message ?? '',
      /spec\.source\.inline is \d+ bytes; a ConfigMap holds at most 1048576/,
    );
    assert.equal(condition(fn, 'Deployed')?.status, 'False');
    assert.equal(await getDeployment('huge'), undefined, 'nothing deployed');
    const events = await eventually(
      async () => {
        const list = await plane.request<{
          items: { reason: string; involvedObject: { name: string }; type: string }[];
        }>('GET', `/api/v1/namespaces/${namespace}/events`);
        return list.body.items.find((e) => e.involvedObject.name === 'huge' && e.reason === 'SourceTooLarge');
      },
      10_000,
      'a SourceTooLarge event',
    );
    assert.equal(events.type, 'Warning');
    const queue = running.functions.workQueue;
    assert.ok(queue !== undefined);
    assert.equal(queue.failureCount(`${namespace}/huge`), 0, 'a spec problem is not retried as a failure');
    assert.equal(queue.isWaitingToRetry(`${namespace}/huge`), false);
  });

  it('reports a source folder, which only local mode can read, as not deployable', async () => {
    await create('folder', { source: { path: './src' } });
    const fn = await untilCondition('folder', 'Ready', 'SourcePathNotSupported');
    assert.match(condition(fn, 'Ready')?.message ?? '', /spec\.source\.path/);
  });

  it('reports what the API server refuses in a built object, naming the field', async () => {
    await create('greedy', { resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } });
    const fn = await untilCondition('greedy', 'Deployed', 'ApplyRefused');
    assert.match(
      condition(fn, 'Deployed')?.message ?? '',
      /resources\.requests.*must be less than or equal to cpu limit/,
    );
  });

  it('deletes the source ConfigMap when a Function moves from inline code to an image', async () => {
    await create('mover');
    const configMap = `/api/v1/namespaces/${namespace}/configmaps/mover-source`;
    await eventually(
      async () => ((await plane.request('GET', configMap)).status === 200 ? true : undefined),
      10_000,
      'the ConfigMap',
    );
    const replaced = await mergePatch(plane, `${FUNCTIONS()}/mover`, {
      spec: { source: null, image: 'acme/mover:1' },
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    await eventually(
      async () => ((await plane.request('GET', configMap)).status === 404 ? true : undefined),
      10_000,
      'the ConfigMap to go',
    );
    const deployment = await getDeployment('mover');
    assert.equal(deployment?.spec.template.spec.containers[0]?.image, 'acme/mover:1');
  });

  it('serves /metrics, /healthz and /readyz', async () => {
    assert.equal((await send(running.base, '/healthz')).status, 200);
    assert.equal((await send(running.base, '/readyz')).status, 200);
    const metrics = await send(running.base, '/metrics');
    assert.equal(metrics.status, 200);
    const text = metrics.body.toString('utf8');
    assert.match(text, /nimbus_controller_reconciles_total\{result="success"\} [1-9]/);
    assert.match(text, /nimbus_controller_reconcile_duration_seconds_bucket/);
    assert.match(text, /nimbus_controller_queue_depth \d/);
  });
});

describe('the controller when a Function goes away', function () {
  this.timeout(5 * 60_000);
  let plane: ControlPlane;
  let namespace: string;

  before(async () => {
    plane = await sharedControlPlane();
    namespace = await freshNamespace(plane, 'finalize');
  });

  it('survives a Function deleted in the middle of its reconcile', async () => {
    const FUNCTIONS = `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
    // Deletes the Function just as its Deployment is about to be applied.
    class DeletingClient extends KubeClient {
      override async apply<T extends KubeObject>(...args: Parameters<KubeClient['apply']>): Promise<T> {
        const [resource, object] = args;
        if (resource.kind === 'Deployment' && object.metadata.name === 'vanishing') {
          await plane.request('DELETE', `${FUNCTIONS}/vanishing`);
        }
        return super.apply<T>(...args);
      }
    }
    const client = new DeletingClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
    const running = await startController(plane, namespace, {}, {}, client);
    try {
      assert.equal((await plane.request('POST', FUNCTIONS, fnDoc('vanishing'))).status, 201);
      await eventually(
        async () =>
          (await plane.request('GET', `${FUNCTIONS}/vanishing`)).status === 404 ? true : undefined,
        10_000,
        'the Function to be gone',
      );
      // The controller goes on: the next Function is reconciled, and the vanished one is not retried.
      assert.equal((await plane.request('POST', FUNCTIONS, fnDoc('after'))).status, 201);
      await eventually(
        async () => {
          const fn = await plane.request<Stored>('GET', `${FUNCTIONS}/after`);
          return fn.body.status?.observedGeneration === 1 ? true : undefined;
        },
        10_000,
        'the next Function to be reconciled',
      );
      const queue = running.functions.workQueue;
      assert.equal(queue?.isWaitingToRetry(`${namespace}/vanishing`), false);
      assert.equal(await counterValue(running.registry, 'nimbus_controller_reconcile_errors_total'), 0);
    } finally {
      await running.stop();
    }
  });

  it('runs cleanups before letting a Function go, and holds it while a cleanup fails', async () => {
    const FUNCTIONS = `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
    const cleaned: string[] = [];
    let failing = true;
    const cleanup: FunctionCleanup = {
      name: 'test-consumers',
      appliesTo: (fn) => (fn.spec.triggers ?? []).length > 0,
      cleanup: async (fn) => {
        if (failing) throw new Error('the broker is away');
        cleaned.push(fn.metadata.name);
      },
    };
    const running = await startController(plane, namespace, {}, { cleanups: [cleanup] });
    try {
      const triggers = [{ nats: { subject: 'orders.created' } }];
      assert.equal((await plane.request('POST', FUNCTIONS, fnDoc('triggered', { triggers }))).status, 201);
      assert.equal((await plane.request('POST', FUNCTIONS, fnDoc('plain'))).status, 201);
      const withFinalizer = await eventually(
        async () => {
          const fn = (await plane.request<Stored>('GET', `${FUNCTIONS}/triggered`)).body;
          return fn.metadata.finalizers?.includes('nimbus.dev/cleanup') ? fn : undefined;
        },
        10_000,
        'the finalizer',
      );
      assert.ok(withFinalizer);
      await eventually(
        async () =>
          (await plane.request<Stored>('GET', `${FUNCTIONS}/plain`)).body.status?.observedGeneration === 1
            ? true
            : undefined,
        10_000,
        'the plain Function to be reconciled',
      );
      assert.equal(
        (await plane.request<Stored>('GET', `${FUNCTIONS}/plain`)).body.metadata.finalizers,
        undefined,
        'no finalizer without cleanups',
      );

      assert.equal((await plane.request('DELETE', `${FUNCTIONS}/triggered`)).status, 200);
      await eventually(
        async () => {
          const list = await plane.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
            'GET',
            `/api/v1/namespaces/${namespace}/events`,
          );
          return list.body.items.some(
            (e) => e.involvedObject.name === 'triggered' && e.reason === 'CleanupFailed',
          )
            ? true
            : undefined;
        },
        10_000,
        'a CleanupFailed event',
      );
      const held = await plane.request<Stored>('GET', `${FUNCTIONS}/triggered`);
      assert.equal(held.status, 200, 'held while its cleanup fails');
      assert.ok(held.body.metadata.deletionTimestamp);

      failing = false;
      await eventually(
        async () =>
          (await plane.request('GET', `${FUNCTIONS}/triggered`)).status === 404 ? true : undefined,
        15_000,
        'the Function to go once its cleanup succeeds',
      );
      assert.deepEqual(cleaned, ['triggered']);
      assert.equal((await plane.request('DELETE', `${FUNCTIONS}/plain`)).status, 200);
      await eventually(
        async () => ((await plane.request('GET', `${FUNCTIONS}/plain`)).status === 404 ? true : undefined),
        5000,
        'a Function without a finalizer to go at once',
      );
      assert.deepEqual(cleaned, ['triggered'], 'no cleanup for a Function that needs none');
    } finally {
      await running.stop();
    }
  });
});

/** A JSON merge patch through the plane (its `request` sends JSON; this sets the patch type). */
async function mergePatch(plane: ControlPlane, path: string, body: unknown) {
  const client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
  try {
    const result = await client.request('PATCH', path.split('?')[0] as string, {
      body,
      contentType: 'application/merge-patch+json',
      query: Object.fromEntries(new URLSearchParams(path.split('?')[1] ?? '')),
    });
    return { status: 200, body: result };
  } catch (err) {
    return { status: (err as { code?: number }).code ?? 0, body: (err as Error).message };
  }
}
