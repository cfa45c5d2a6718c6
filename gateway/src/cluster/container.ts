import 'reflect-metadata';
import { type FunctionResource, type Logger, createLogger, systemClock } from '@nimbus/api';
import { InformerSet, KubeClient, type KubeObject, RESOURCES } from '@nimbus/kube';
import { Registry } from 'prom-client';
import { type DependencyContainer, container as root } from 'tsyringe';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import { createGatewayContainer } from '../container.js';
import type { PlatformEndpoint } from '../egress/egress-policy.js';
import type { Gateway } from '../gateway.js';
import { RouteTable } from '../routing/route-table.js';
import type { Waker } from '../routing/waker.js';
import type { EventSourceParts } from '../sources/event-source-parts.js';
import { TOKENS } from '../tokens.js';
import { ConcurrencyReporter } from './concurrency-reporter.js';
import type { ClusterConfig } from './config.js';
import { ControllerPeers, controllerEndpoints } from './controller-peers.js';
import { ControllerWaker } from './controller-waker.js';
import { EarlyEndpoints } from './early-endpoints.js';
import { EndpointSliceSource } from './endpoint-slice-source.js';
import { type EndpointSlice, NIMBUS_SLICES } from './endpoint-slice.js';
import { KubernetesFunctionDirectory } from './function-directory.js';
import { FunctionSource } from './function-source.js';
import { InformerReadiness } from './informer-readiness.js';
import { MirroredTriggerSecrets } from './mirrored-secrets.js';
import { NewPodProber } from './new-pod-prober.js';
import { PodLogs } from './pod-logs.js';

/** What a test may swap in the cluster gateway. */
export interface ClusterOverrides {
  client?: KubeClient;
  routes?: RouteTable;
  logger?: Logger;
  registry?: Registry;
  apiKeys?: ApiKeyVerifier;
}

/** The gateway of a cluster, assembled: its HTTP server and async workers, and the informers that feed them. */
export interface ClusterGateway {
  readonly container: DependencyContainer;
  /** `listen()` serves and starts the async workers; `stop()` closes both. */
  readonly server: Gateway;
  readonly log: Logger;
  /** Starts listing and watching Functions and EndpointSlices; `/readyz` turns 200 once both are in. */
  start(): void;
  /** Reports not ready from now on (/readyz 503), while still serving. */
  beginShutdown(): void;
  /**
   * Stops accepting, lets requests in flight finish (at most `drainMs`) and the async workers the
   * calls they run, then stops watching.
   */
  stop(drainMs?: number): Promise<void>;
}

type Fn = FunctionResource & KubeObject;

/** The API server by the address the gateway uses and by the names every pod can use. */
function apiServerEndpoints(config: ClusterConfig): PlatformEndpoint[] {
  const names = [
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ];
  const out: PlatformEndpoint[] = names.map((host) => ({ host, port: 443 }));
  const server = config.kubeConfig.getCurrentCluster()?.server;
  try {
    if (server !== undefined) {
      const url = new URL(server);
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
      out.push({ host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port });
    }
  } catch {
    // A kubeconfig the client could load but this cannot parse: the names above still hold.
  }
  return out;
}

/**
 * The composition root of the gateway in a cluster: Kubernetes informers and the sources that
 * turn them into routes, handed to the gateway's own container as overrides.
 */
export function createClusterGateway(
  config: ClusterConfig,
  overrides: ClusterOverrides = {},
): ClusterGateway {
  const c = root.createChildContainer();
  const log = overrides.logger ?? createLogger({ component: 'gateway' }, config.logLevel);
  const client = overrides.client ?? new KubeClient(config.kubeConfig);
  const kubeLog = log.child({ component: 'gateway-informer' });
  const functions = new InformerSet<Fn>(client, RESOURCES.functions, config.watchNamespaces, kubeLog);
  const slices = new InformerSet<EndpointSlice>(
    client,
    RESOURCES.endpointSlices,
    config.watchNamespaces,
    kubeLog,
    NIMBUS_SLICES,
  );
  c.register(TOKENS.ClusterConfig, { useValue: config });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.KubeClient, { useValue: client });
  c.register(TOKENS.RouteTable, { useValue: overrides.routes ?? new RouteTable() });
  c.register(TOKENS.FunctionInformers, { useValue: functions });
  c.register(TOKENS.EndpointSliceInformers, { useValue: slices });
  c.registerSingleton(TOKENS.EndpointSliceSource, EndpointSliceSource);
  c.registerSingleton(TOKENS.FunctionSource, FunctionSource);
  c.registerSingleton(TOKENS.KubernetesDirectory, KubernetesFunctionDirectory);
  c.registerSingleton(TOKENS.InformerReadiness, InformerReadiness);
  // Resolved now, so the sources are subscribed before the informers deliver anything.
  c.resolve(TOKENS.FunctionSource);

  const registry = overrides.registry ?? new Registry();
  const peers = new ControllerPeers(config.controllers);
  const routes = c.resolve<RouteTable>(TOKENS.RouteTable);
  // Replicas known ready before their EndpointSlice: a pool pod a wake names, a new pod probed.
  const early = new EarlyEndpoints(routes, registry, log.child({ component: 'early-endpoints' }));
  const controllerWaker = new ControllerWaker(
    peers,
    config.reportToken,
    config.wakeTimeoutMs,
    registry,
    log.child({ component: 'waker' }),
    early,
  );
  const prober = new NewPodProber(
    routes,
    c.resolve<EndpointSliceSource>(TOKENS.EndpointSliceSource),
    functions,
    early,
    systemClock,
    config.gateway.wakeTimeoutMs,
  );
  const waker: Waker = {
    wake(route, trace) {
      controllerWaker.wake(route, trace);
      prober.wake(route);
    },
  };
  const gateway = createGatewayContainer(config.gateway, {
    routes,
    directory: c.resolve(TOKENS.KubernetesDirectory),
    readiness: c.resolve(TOKENS.InformerReadiness),
    logger: log,
    registry,
    apiKeys: overrides.apiKeys,
    waker,
    info: { version: '0.1.0', mode: 'kubernetes' },
    logs: new PodLogs(client, log.child({ component: 'logs' })),
    // The controllers and the API server: reached by the gateway, never by a caller's callback.
    platformEndpoints: [...controllerEndpoints(config.controllers), ...apiServerEndpoints(config)],
    triggerSecrets: new MirroredTriggerSecrets(client, config.platformNamespace, Date.now),
  });
  const server = gateway.resolve<Gateway>(TOKENS.Gateway);
  const reporter = new ConcurrencyReporter(
    routes,
    peers,
    config.reporter,
    config.reportIntervalMs,
    config.reportToken,
    log.child({ component: 'concurrency-reporter' }),
    () => gateway.resolve<EventSourceParts>(TOKENS.EventSourceParts).health.snapshot(),
  );
  return {
    container: gateway,
    server,
    log,
    start() {
      functions.start();
      slices.start();
      reporter.start();
    },
    beginShutdown() {
      c.resolve<InformerReadiness>(TOKENS.InformerReadiness).markShuttingDown();
    },
    async stop(drainMs) {
      reporter.stop();
      controllerWaker.close();
      prober.close();
      await server.close(drainMs);
      await Promise.all([functions.stop(), slices.stop()]);
      client.close();
    },
  };
}
