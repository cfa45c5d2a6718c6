import 'reflect-metadata';
import { createLogger } from '@nimbus/api';
import { RouteTable } from '@nimbus/gateway';
import { loadClusterConfig } from '@nimbus/gateway/cluster/config';
import { type ClusterGateway, createClusterGateway } from '@nimbus/gateway/cluster/container';
import { Informer, KubeClient, type KubeObject, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { eventually, send } from '@nimbus/testkit';
import { Registry } from 'prom-client';
import { type ApiReply, ControlPlane } from './control-plane/control-plane.js';
import { freshNamespace, installFunctionCrd } from './control-plane/shared.js';
import { type RunningController, startController } from './controller.js';
import { PodRunner, type PodRunnerOptions } from './pod-runner.js';

const FUNCTIONS = '/apis/nimbus.dev/v1alpha1/namespaces';

/** What readyPoolPods reads of a pod; a caller's own view of pods may add to it. */
export interface PoolPodView extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}
const quiet = createLogger({}, 'error', () => {});

/** The cluster gateway's admin key. */
export const SCALING_ADMIN_KEY = 'admin-key-for-the-scaling-suite';

/** A function that says when it received the request, and waits `?ms=` before answering. */
export const TIMED_SOURCE = `export const handle = async (event) => {
  const at = Date.now();
  const ms = Number(event.query.ms ?? 0);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  return { at, pid: process.pid };
};`;

export interface DeploymentView {
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; replicas?: number };
}

interface Slice extends KubeObject {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

/**
 * Everything that scales functions, on a real API server with kube-controller-manager: the pod
 * runner as kubelet, a cluster controller and a cluster gateway in this process, the gateway
 * reporting to the controller and waking it. `controllerEnv` tunes the autoscaler for test time.
 */
export class ScalingCluster {
  private constructor(
    readonly plane: ControlPlane,
    readonly namespace: string,
    readonly runner: PodRunner,
    readonly controller: RunningController,
    readonly gateway: ClusterGateway,
    readonly gatewayBase: string,
    readonly routes: RouteTable,
    readonly gatewayRegistry: Registry,
    private readonly client: KubeClient,
  ) {}

  static async start(
    controllerEnv: Record<string, string>,
    prefix = 'scale',
    options: Pick<PodRunnerOptions, 'images' | 'readinessPeriodMs'> & {
      gatewayEnv?: Record<string, string>;
      /** Added to every pod's environment, over NIMBUS_LOG_LEVEL=error. */
      podEnv?: Record<string, string>;
      /** Further kube-controller-manager flags (ControlPlane's node.controllerManagerArgs). */
      controllerManagerArgs?: readonly string[];
    } = {},
  ): Promise<ScalingCluster> {
    // The CRD goes in before kube-controller-manager starts, so its garbage collector knows Functions.
    const plane = await ControlPlane.start({
      controllerManager: true,
      beforeControllerManager: installFunctionCrd,
      ...(options.controllerManagerArgs === undefined
        ? {}
        : { node: { controllerManagerArgs: options.controllerManagerArgs } }),
    });
    try {
      const namespace = await freshNamespace(plane, prefix);
      // The ServiceAccount admission plugin refuses pods until the namespace has its `default`.
      await eventually(
        async () =>
          (await plane.request('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/default`)).status ===
          200
            ? true
            : undefined,
        30_000,
        `the default ServiceAccount in ${namespace}`,
      );
      const runner = await PodRunner.start(plane, {
        namespace,
        env: { NIMBUS_LOG_LEVEL: 'error', ...options.podEnv },
        ...(options.images === undefined ? {} : { images: options.images }),
        ...(options.readinessPeriodMs === undefined ? {} : { readinessPeriodMs: options.readinessPeriodMs }),
      });
      const controller = await startController(plane, namespace, controllerEnv);
      const routes = new RouteTable();
      const gatewayRegistry = new Registry();
      const gateway = createClusterGateway(
        loadClusterConfig({
          KUBECONFIG: plane.kubeconfigPath,
          NIMBUS_WATCH_NAMESPACES: namespace,
          // Its one namespace is the default, and what faas-cli's openfaas-fn is read as.
          NIMBUS_DEFAULT_NAMESPACE: namespace,
          NIMBUS_API_KEYS: `admin:${SCALING_ADMIN_KEY}`,
          NIMBUS_CONTROLLER_URLS: controller.base,
          NIMBUS_REPORT_TOKEN: controller.config.reportToken,
          NIMBUS_REPORT_INTERVAL_MS: '250',
          POD_NAME: 'gateway-under-test',
          HOST: '127.0.0.1',
          PORT: '0',
          ...options.gatewayEnv,
        }),
        { logger: quiet, routes, registry: gatewayRegistry },
      );
      const gatewayBase = `http://127.0.0.1:${(await gateway.server.listen()).port}`;
      gateway.start();
      await eventually(
        async () => ((await send(gatewayBase, '/readyz')).status === 200 ? true : undefined),
        30_000,
        'the gateway to be ready',
      );
      const client = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath }));
      return new ScalingCluster(
        plane,
        namespace,
        runner,
        controller,
        gateway,
        gatewayBase,
        routes,
        gatewayRegistry,
        client,
      );
    } catch (err) {
      await plane.stop();
      throw err;
    }
  }

  /** Creates a Function running TIMED_SOURCE and waits until the gateway has its route. */
  createFunction(name: string, spec: Record<string, unknown>): Promise<void> {
    return this.createWithSpec(name, { handler: 'index.handle', source: { inline: TIMED_SOURCE }, ...spec });
  }

  /** Creates a Function with this spec as it stands and waits until the gateway has its route. */
  async createWithSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    const reply = await this.plane.request('POST', `${FUNCTIONS}/${this.namespace}/functions`, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name },
      spec,
    });
    if (reply.status !== 201)
      throw new Error(`creating ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
    await eventually(() => this.routes.get(this.namespace, name), 30_000, `the gateway to route ${name}`);
  }

  async deployment(name: string): Promise<DeploymentView | undefined> {
    const reply: ApiReply<DeploymentView> = await this.plane.request(
      'GET',
      `/apis/apps/v1/namespaces/${this.namespace}/deployments/${name}`,
    );
    return reply.status === 200 ? reply.body : undefined;
  }

  async pods(name: string): Promise<KubeObject[]> {
    const selector = encodeURIComponent(`nimbus.dev/function=${name}`);
    const reply: ApiReply<{ items: KubeObject[] }> = await this.plane.request(
      'GET',
      `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`,
    );
    return reply.body.items;
  }

  /** The Ready, not terminating pods of one runtime's warm pool here (label nimbus.dev/pool). */
  async readyPoolPods<T extends PoolPodView>(runtime = 'node20'): Promise<T[]> {
    const selector = encodeURIComponent(`nimbus.dev/pool=${runtime}`);
    const reply: ApiReply<{ items: T[] }> = await this.plane.request(
      'GET',
      `/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`,
    );
    return reply.body.items.filter(
      (p) =>
        p.metadata.deletionTimestamp === undefined &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
    );
  }

  /** How many replicas the gateway used before their EndpointSlice listed them ready, by how it learned of them. */
  async earlyEndpoints(via: 'wake' | 'probe'): Promise<number> {
    const metric = this.gatewayRegistry.getSingleMetric('nimbus_gateway_early_endpoints_total');
    return (await metric?.get())?.values.find((v) => v.labels.via === via)?.value ?? 0;
  }

  /** The ready endpoints the gateway routes to for a function now. */
  readyEndpoints(name: string): number {
    return this.routes.get(this.namespace, name)?.endpoints.length ?? 0;
  }

  /**
   * Watches a function's EndpointSlices from outside the gateway (a watch of its own) and
   * resolves with the time, by this process's clock, at which a ready endpoint first showed.
   */
  firstReadyEndpoint(name: string): { at: Promise<number>; stop(): Promise<void> } {
    const informer = new Informer<Slice>(
      this.client,
      {
        resource: RESOURCES.endpointSlices,
        namespace: this.namespace,
        labelSelector: `kubernetes.io/service-name=${name}`,
      },
      quiet,
    );
    const at = new Promise<number>((resolve) => {
      informer.on((event) => {
        if (event.object.endpoints?.some((e) => e.conditions?.ready === true)) resolve(Date.now());
      });
    });
    informer.start();
    return { at, stop: () => informer.stop() };
  }

  /** Watches a function's Deployment and keeps the most replicas it ever asked for. */
  watchReplicas(name: string): { highest(): number; stop(): Promise<void> } {
    let highest = 0;
    const informer = new Informer<KubeObject & DeploymentView>(
      this.client,
      {
        resource: RESOURCES.deployments,
        namespace: this.namespace,
        labelSelector: `nimbus.dev/function=${name}`,
      },
      quiet,
    );
    informer.on((event) => {
      highest = Math.max(highest, event.object.spec?.replicas ?? 0);
    });
    informer.start();
    return { highest: () => highest, stop: () => informer.stop() };
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.gateway.stop(1000);
    await this.controller.stop();
    await this.runner.stop();
    await this.plane.stop();
  }
}
