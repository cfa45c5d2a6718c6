import 'reflect-metadata';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { createLogger } from '@nimbus/api';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import { eventually, send } from '@nimbus/testkit';
import { type ApiReply, ControlPlane } from '../harness/control-plane/control-plane.js';
import { freshNamespace, installFunctionCrd } from '../harness/control-plane/shared.js';
import { REPORT_TOKEN, type RunningController, startController } from '../harness/controller.js';
import { alive } from '../harness/local-mode-process.js';
import { PodRunner, type RunningPod } from '../harness/pod-runner.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';
const quiet = createLogger({}, 'error', () => {});

interface Meta {
  name: string;
  uid: string;
  labels?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}
interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface Pod {
  metadata: Meta & { deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: Condition[] };
}
interface Slice {
  metadata: Meta;
  addressType: string;
  ports?: { name?: string; port?: number }[];
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean };
    nodeName?: string;
    targetRef?: { kind: string; name: string };
  }[];
}
interface List<T> {
  items: T[];
}

/** In a subfolder, so the ConfigMap's flattened key must be mounted back at `lib/greet.mjs`. */
const SOURCE = `export const hello = (event) => ({
  greeting: 'hello ' + (event.query.name ?? 'world'),
  host: process.env.HOST,
});`;

function ok<T>(reply: ApiReply<T>, ...statuses: number[]): T {
  assert.ok(
    statuses.includes(reply.status),
    `API server answered ${reply.status}: ${JSON.stringify(reply.body)}`,
  );
  return reply.body;
}

const ownedBy = (meta: Meta, kind: string, uid: string) =>
  meta.ownerReferences?.some((o) => o.kind === kind && o.uid === uid && o.controller === true) ?? false;

const condition = (conditions: Condition[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type);

const heldByThisMachine = (address: string) =>
  Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === address));

describe('a Function on kube-controller-manager, its pod run as a local process', function () {
  this.timeout(180_000);
  let plane: ControlPlane | undefined;
  let runner: PodRunner | undefined;
  let controller: RunningController | undefined;
  let gateway: ClusterGateway | undefined;
  let gatewayBase: string;
  let ns: string;
  const timings: string[] = [];
  const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

  const api = <T>(path: string) => plane?.request<T>('GET', path) as Promise<ApiReply<T>>;
  const listIn = async <T>(group: string, plural: string, selector: string) =>
    ok(
      await api<List<T>>(`${group}/namespaces/${ns}/${plural}?labelSelector=${encodeURIComponent(selector)}`),
      200,
    ).items;

  before(async () => {
    const started = Date.now();
    // The CRD goes in before kube-controller-manager starts, so its garbage collector knows
    // Functions from the start (it rediscovers resources only every 30 s).
    plane = await ControlPlane.start({
      controllerManager: true,
      beforeControllerManager: installFunctionCrd,
    });
    timings.push(`control plane with kube-controller-manager: ${seconds(started)}`);
    const p = plane;
    ns = await freshNamespace(p, 'pods');
    // The ServiceAccount admission plugin refuses pods until the namespace has its `default`.
    await eventually(
      async () =>
        (await api(`/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined,
      30_000,
      `the default ServiceAccount in ${ns}`,
    );
    runner = await PodRunner.start(p, { namespace: ns, env: { NIMBUS_LOG_LEVEL: 'error' } });
    controller = await startController(p, ns);
    const config = loadClusterConfig({
      KUBECONFIG: p.kubeconfigPath,
      NIMBUS_WATCH_NAMESPACES: ns,
      NIMBUS_API_KEYS: 'admin:admin-key-for-the-pods-suite',
      NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
    });
    gateway = createClusterGateway(config, { logger: quiet });
    gatewayBase = `http://127.0.0.1:${(await gateway.server.listen()).port}`;
    gateway.start();
    await eventually(
      async () => ((await send(gatewayBase, '/readyz')).status === 200 ? true : undefined),
      30_000,
      'the gateway to be ready',
    );
  });

  after(async function () {
    this.timeout(60_000);
    if (timings.length > 0) process.stdout.write(`      timings: ${timings.join('; ')}\n`);
    await gateway?.stop(1000);
    await controller?.stop();
    await runner?.stop();
    await plane?.stop();
  });

  let pod: RunningPod;

  it('Function → Deployment → ReplicaSet → Pod → a ready process, listed in the Service’s EndpointSlice; the Function is Ready', async () => {
    const p = plane as ControlPlane;
    const created = Date.now();
    const fn = ok(
      await p.request<{ metadata: Meta }>('POST', `${FUNCTIONS}/${ns}/functions`, {
        apiVersion: 'nimbus.dev/v1alpha1',
        kind: 'Function',
        metadata: { name: 'greet' },
        spec: { handler: 'lib/greet.hello', source: { inline: SOURCE }, scale: { min: 1 } },
      }),
      201,
    );

    const deployment = await eventually(
      async () => {
        const reply = await api<{ metadata: Meta }>(`/apis/apps/v1/namespaces/${ns}/deployments/greet`);
        return reply.status === 200 ? reply.body : undefined;
      },
      30_000,
      'the controller to make the Deployment',
    );
    assert.ok(ownedBy(deployment.metadata, 'Function', fn.metadata.uid), 'the Deployment is the Function’s');

    const replicaSet = await eventually(
      async () =>
        (await listIn<{ metadata: Meta }>('/apis/apps/v1', 'replicasets', 'nimbus.dev/function=greet')).find(
          (rs) => ownedBy(rs.metadata, 'Deployment', deployment.metadata.uid),
        ),
      30_000,
      'the Deployment controller to make a ReplicaSet',
    );

    const ready = await eventually(
      async () =>
        (await listIn<Pod>('/api/v1', 'pods', 'nimbus.dev/function=greet')).find(
          (candidate) =>
            ownedBy(candidate.metadata, 'ReplicaSet', replicaSet.metadata.uid) &&
            condition(candidate.status?.conditions, 'Ready')?.status === 'True',
        ),
      60_000,
      'a pod of the ReplicaSet to be ready',
    );
    timings.push(`Function → ready pod: ${seconds(created)}`);
    assert.equal(ready.spec.nodeName, runner?.nodeName);
    assert.equal(ready.status?.phase, 'Running');
    assert.match(ready.status?.podIP ?? '', /^10\.244\.\d+\.\d+$/);
    for (const type of ['PodScheduled', 'Initialized', 'ContainersReady'])
      assert.equal(condition(ready.status?.conditions, type)?.status, 'True', `${type} of the pod`);
    const running = runner?.pods().find((r) => r.uid === ready.metadata.uid);
    assert.ok(running?.pid !== undefined, 'the runner runs a process for the pod');
    assert.equal(running.ip, ready.status?.podIP);
    pod = running;

    const slice = await eventually(
      async () =>
        (
          await listIn<Slice>(
            '/apis/discovery.k8s.io/v1',
            'endpointslices',
            'kubernetes.io/service-name=greet',
          )
        ).find((s) => s.endpoints?.some((e) => e.addresses.includes(pod.ip) && e.conditions?.ready === true)),
      30_000,
      'the EndpointSlice controller to list the ready pod',
    );
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(
      slice.ports?.map((port) => [port.name, port.port]),
      [['http', 8080]],
    );
    const endpoint = slice.endpoints?.find((e) => e.addresses.includes(pod.ip));
    assert.deepEqual(endpoint?.targetRef && [endpoint.targetRef.kind, endpoint.targetRef.name], [
      'Pod',
      pod.name,
    ]);
    assert.equal(endpoint?.nodeName, runner?.nodeName);
    // The gateway watches slices by `app.kubernetes.io/managed-by=nimbus`: the EndpointSlice
    // controller copies the Service's labels onto its slices, beside its own.
    assert.equal(slice.metadata.labels?.['app.kubernetes.io/managed-by'], 'nimbus');
    assert.equal(slice.metadata.labels?.['nimbus.dev/function'], 'greet');
    assert.equal(
      slice.metadata.labels?.['endpointslice.kubernetes.io/managed-by'],
      'endpointslice-controller.k8s.io',
    );

    const direct = await send(`http://${pod.ip}:${pod.port}`, '/?name=pods');
    timings.push(`Function → first response from the pod: ${seconds(created)}`);
    assert.equal(direct.status, 200, direct.text);
    assert.deepEqual(direct.json(), { greeting: 'hello pods', host: pod.ip });

    const status = await eventually(
      async () => {
        const reply = await api<{ status?: { conditions?: Condition[]; readyReplicas?: number } }>(
          `${FUNCTIONS}/${ns}/functions/greet`,
        );
        const readiness = condition(reply.body.status?.conditions, 'Ready');
        return readiness?.status === 'True' ? reply.body.status : undefined;
      },
      30_000,
      'the Function to be Ready',
    );
    assert.equal(condition(status?.conditions, 'Ready')?.reason, 'ReplicasReady');
    assert.equal(status?.readyReplicas, 1);
  });

  it('the gateway routes GET /function/greet.<ns> through those EndpointSlices to the pod', async () => {
    assert.ok(pod !== undefined, 'the first test ran a pod');
    const reply = await eventually(
      async () => {
        const answer = await send(gatewayBase, `/function/greet.${ns}?name=gateway`);
        return answer.status === 200 ? answer : undefined;
      },
      30_000,
      'the gateway to answer 200',
    );
    assert.deepEqual(reply.json(), { greeting: 'hello gateway', host: pod.ip });
  });

  it('restarts a process that dies: the pod leaves the ready endpoints, then comes back at its address', async () => {
    assert.ok(pod?.pid !== undefined, 'the first test ran a pod');
    const before = pod;
    process.kill(before.pid as number, 'SIGKILL');
    const slices = () =>
      listIn<Slice>('/apis/discovery.k8s.io/v1', 'endpointslices', 'kubernetes.io/service-name=greet');
    await eventually(
      async () =>
        (await slices()).some((s) =>
          s.endpoints?.some((e) => e.addresses.includes(before.ip) && e.conditions?.ready === false),
        )
          ? true
          : undefined,
      15_000,
      'the endpoint to turn not ready',
    );
    const restarted = await eventually(
      async () => {
        const reply = await api<Pod & { status?: { containerStatuses?: { restartCount: number }[] } }>(
          `/api/v1/namespaces/${ns}/pods/${before.name}`,
        );
        const status = reply.body.status;
        return condition(status?.conditions, 'Ready')?.status === 'True' &&
          status?.containerStatuses?.[0]?.restartCount === 1
          ? reply.body
          : undefined;
      },
      30_000,
      'the pod to be ready again after one restart',
    );
    assert.equal(restarted.status?.podIP, before.ip);
    const now = runner?.pods().find((r) => r.uid === before.uid);
    assert.ok(now?.pid !== undefined && now.pid !== before.pid, 'a new process runs the pod');
    pod = now;
    await eventually(
      async () =>
        (await slices()).some((s) =>
          s.endpoints?.some((e) => e.addresses.includes(before.ip) && e.conditions?.ready === true),
        )
          ? true
          : undefined,
      15_000,
      'the endpoint to be ready again',
    );
    const reply = await send(`http://${pod.ip}:${pod.port}`, '/?name=again');
    assert.deepEqual(reply.json(), { greeting: 'hello again', host: pod.ip });
  });

  it('deleting the Function deletes the Deployment and the pod; the process is stopped and its address given back', async () => {
    assert.ok(pod?.pid !== undefined, 'the first test ran a pod');
    const { pid, ip, name } = pod;
    assert.ok(alive(pid), 'the process runs before the Function is deleted');
    assert.ok(heldByThisMachine(ip), 'the pod’s address is on this machine');
    const p = plane as ControlPlane;
    ok(await p.request('DELETE', `${FUNCTIONS}/${ns}/functions/greet`), 200);

    await eventually(
      async () =>
        (await api(`/apis/apps/v1/namespaces/${ns}/deployments/greet`)).status === 404 ? true : undefined,
      60_000,
      'the garbage collector to delete the Deployment',
    );
    await eventually(
      async () => ((await api(`/api/v1/namespaces/${ns}/pods/${name}`)).status === 404 ? true : undefined),
      60_000,
      'the pod to go',
    );
    await eventually(() => (alive(pid) ? undefined : true), 30_000, `process ${pid} to exit`);
    assert.equal(
      runner?.pods().some((r) => r.uid === pod.uid),
      false,
    );
    assert.equal(heldByThisMachine(ip), false, 'the pod’s address is given back');
    await eventually(
      async () =>
        (
          await listIn<Slice>(
            '/apis/discovery.k8s.io/v1',
            'endpointslices',
            'kubernetes.io/service-name=greet',
          )
        ).length === 0
          ? true
          : undefined,
      60_000,
      'the Service’s EndpointSlices to go',
    );
    const gone = await eventually(
      async () => {
        const answer = await send(gatewayBase, `/function/greet.${ns}`);
        return answer.status === 404 ? answer : undefined;
      },
      30_000,
      'the gateway to answer 404',
    );
    assert.equal(gone.status, 404);
    assert.deepEqual(
      runner?.errors.map((e) => e.message),
      [],
    );
  });
});
