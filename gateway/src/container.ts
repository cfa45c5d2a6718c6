import 'reflect-metadata';
import { type Logger, createLogger } from '@nimbus/api';
import { Registry } from 'prom-client';
import { type DependencyContainer, container as root } from 'tsyringe';
import { type ApiKeyVerifier, HashedApiKeys } from './auth/api-keys.js';
import type { GatewayConfig } from './config.js';
import { GatewayServer, type Readiness } from './http/server.js';
import { Invoker } from './invoke/invoker.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { RouteTable } from './routing/route-table.js';
import { type Waker, noWaker } from './routing/waker.js';
import { type FunctionDirectory, type SystemInfo, createSystemApp } from './system/system-app.js';
import { TOKENS } from './tokens.js';

/** What a process embedding the gateway (local mode, a cluster's gateway, a test) supplies or swaps. */
export interface GatewayOverrides {
  routes?: RouteTable;
  directory?: FunctionDirectory;
  readiness?: Readiness;
  apiKeys?: ApiKeyVerifier;
  logger?: Logger;
  registry?: Registry;
  info?: SystemInfo;
  waker?: Waker;
}

const emptyDirectory: FunctionDirectory = { list: () => [], get: () => undefined };

/** The gateway's composition root: one per process, with overrides for what the host provides. */
export function createGatewayContainer(
  config: GatewayConfig,
  overrides: GatewayOverrides = {},
): DependencyContainer {
  const c = root.createChildContainer();
  const routes = overrides.routes ?? new RouteTable();
  c.register(TOKENS.Config, { useValue: config });
  c.register(TOKENS.Registry, { useValue: overrides.registry ?? new Registry() });
  c.register(TOKENS.RouteTable, { useValue: routes });
  c.register(TOKENS.ApiKeys, { useValue: overrides.apiKeys ?? new HashedApiKeys(config.apiKeys) });
  c.register(TOKENS.Logger, { useValue: overrides.logger ?? createLogger({ component: 'gateway' }) });
  c.register(TOKENS.Directory, { useValue: overrides.directory ?? emptyDirectory });
  c.register(TOKENS.Readiness, { useValue: overrides.readiness ?? { notReadyReason: () => undefined } });
  c.register(TOKENS.SystemInfo, { useValue: overrides.info ?? { version: '0.1.0', mode: 'kubernetes' } });
  c.register(TOKENS.Waker, { useValue: overrides.waker ?? noWaker });
  c.registerSingleton(TOKENS.Metrics, GatewayMetrics);
  c.registerSingleton(TOKENS.Invoker, Invoker);
  c.register(TOKENS.SystemApp, {
    useFactory: (d) =>
      createSystemApp(
        d.resolve(TOKENS.ApiKeys),
        d.resolve(TOKENS.Directory),
        d.resolve(TOKENS.SystemInfo),
        config.defaultNamespace,
        d.resolve(TOKENS.Logger),
      ),
  });
  c.registerSingleton(TOKENS.Server, GatewayServer);
  return c;
}
