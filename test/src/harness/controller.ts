import { type Logger, createLogger } from '@nimbus/api';
import {
  type ClusterConfig,
  type ClusterController,
  type ClusterOverrides,
  type FunctionController,
  TOKENS,
  createClusterContainer,
  loadClusterConfig,
} from '@nimbus/controller';
import { KubeClient, loadKubeConfig } from '@nimbus/kube';
import { Registry } from 'prom-client';
import type { ControlPlane } from './control-plane/control-plane.js';

export const RUNTIME_IMAGE = 'nimbus/runtime-node:test';
/** The pod runner runs this repository's runtime-python for pods of this image (pod-runner.ts processOf). */
export const PYTHON_RUNTIME_IMAGE = 'nimbus/runtime-python:test';
export const GATEWAY_URL = 'http://nimbus-gateway.nimbus.svc:8080';
/** The report token the harness's controllers ask for, unless a test gives its own. */
export const REPORT_TOKEN = 'report-token-of-the-test-harness';

export interface RunningController {
  controller: ClusterController;
  functions: FunctionController;
  registry: Registry;
  client: KubeClient;
  config: ClusterConfig;
  /** The metrics/health base URL. */
  base: string;
  stop(release?: boolean): Promise<void>;
}

/** Quiet unless a test asks: the controller's logs would drown mocha's report. */
export const quietLogger: Logger =
  process.env.NIMBUS_TEST_LOGS === '1'
    ? createLogger({ component: 'controller' }, 'debug')
    : createLogger({}, 'error', () => {});

/**
 * A cluster controller in this process, watching `namespace` on the given control plane, with its
 * health server on a free loopback port. `env` adds or overrides settings (lease timings, say).
 */
export async function startController(
  plane: ControlPlane,
  namespace: string,
  env: Record<string, string> = {},
  overrides: ClusterOverrides = {},
  client: KubeClient = new KubeClient(loadKubeConfig({ KUBECONFIG: plane.kubeconfigPath })),
): Promise<RunningController> {
  const config = loadClusterConfig({
    NIMBUS_WATCH_NAMESPACES: namespace,
    NIMBUS_RUNTIME_IMAGE: RUNTIME_IMAGE,
    NIMBUS_PYTHON_RUNTIME_IMAGE: PYTHON_RUNTIME_IMAGE,
    NIMBUS_GATEWAY_URL: GATEWAY_URL,
    NIMBUS_LEADER_ELECTION: 'false',
    NIMBUS_METRICS_HOST: '127.0.0.1',
    NIMBUS_METRICS_PORT: '0',
    NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
    ...env,
  });
  const registry = new Registry();
  const container = createClusterContainer(config, client, { logger: quietLogger, registry, ...overrides });
  const controller = container.resolve<ClusterController>(TOKENS.ClusterController);
  await controller.start(config.metricsPort, config.metricsHost);
  return {
    controller,
    functions: container.resolve<FunctionController>(TOKENS.FunctionController),
    registry,
    client,
    config,
    base: `http://127.0.0.1:${controller.port}`,
    async stop(release = true) {
      await controller.stop(5000, release);
      client.close();
    },
  };
}

/** The value of one counter series in a registry, 0 when absent. */
export async function counterValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}
