import 'reflect-metadata';
import { type Logger, createLogger, systemClock } from '@nimbus/api';
import type { MessageBus } from '@nimbus/bus';
import { type RedisStores, type Stores, createStores, stateLimits } from '@nimbus/store';
import { type Tracing, startTracing } from '@nimbus/telemetry';
import { Registry } from 'prom-client';
import { type DependencyContainer, instanceCachingFactory, container as root } from 'tsyringe';
import { AsyncCalls } from './async/async-calls.js';
import { AsyncFrontDoor } from './async/async-front-door.js';
import { CallAdmin } from './async/call-admin.js';
import { type BusConnector, CallQueue } from './async/call-queue.js';
import { CallWorker } from './async/call-worker.js';
import { CallbackSender } from './async/callback-sender.js';
import { type ApiKeyVerifier, HashedApiKeys } from './auth/api-keys.js';
import { DEFAULT_JWKS_CACHE_POLICY, JwksCache, type JwksCachePolicy } from './auth/jwks-cache.js';
import { JwksFetcher } from './auth/jwks-fetch.js';
import { JwtVerifier } from './auth/jwt-verifier.js';
import type { GatewayConfig } from './config.js';
import { Destinations } from './destinations/destinations.js';
import { EgressGuard, type ResolveHost } from './egress/egress-guard.js';
import type { PlatformEndpoint } from './egress/egress-policy.js';
import { configuredEndpoints, platformView } from './egress/platform-endpoints.js';
import { EventsBus } from './events/events-bus.js';
import { EventsEndpoint } from './events/events-endpoint.js';
import { FunctionEvents } from './events/function-events.js';
import { Gateway } from './gateway.js';
import { MetricsServer } from './http/metrics-server.js';
import { GatewayServer } from './http/server.js';
import { Invoker } from './invoke/invoker.js';
import { AsyncMetrics } from './metrics/async-metrics.js';
import { DependencyMetrics } from './metrics/dependency-metrics.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { QueueMetrics } from './metrics/queue-metrics.js';
import type { FunctionDirectory, FunctionLogs, LocalListeners, Readiness } from './ports.js';
import { RateLimiter } from './quotas/rate-limiter.js';
import { RouteTable } from './routing/route-table.js';
import { type Waker, noWaker } from './routing/waker.js';
import { createEventSourceParts } from './sources/event-source-parts.js';
import { LocalTriggerSecrets } from './sources/local-secrets.js';
import type { SourceCheckpoints, TriggerSecrets } from './sources/source-runner.js';
import { StateService } from './state/state-service.js';
import { FunctionStats } from './stats/function-stats.js';
import { type SystemInfo, createSystemApp } from './system/system-app.js';
import { TOKENS } from './tokens.js';
import { EventSources } from './triggers/event-sources.js';
import { UiAssets } from './ui/ui-assets.js';

/** What a process embedding the gateway (local mode, a cluster's gateway, a test) supplies or swaps. */
export interface GatewayOverrides {
  routes?: RouteTable;
  directory?: FunctionDirectory;
  /** Where GET /system/logs reads functions' log lines from. */
  logs?: FunctionLogs;
  readiness?: Readiness;
  apiKeys?: ApiKeyVerifier;
  logger?: Logger;
  registry?: Registry;
  info?: SystemInfo;
  waker?: Waker;
  /** Call records and dead letters; by default made from `config.store` (Redis, or in memory), and closed with the gateway. */
  stores?: Stores;
  /** The async call queue; by default NATS from `config.async.natsUrl`, or an in-memory bus. Not closed by the gateway. */
  bus?: MessageBus;
  /** How the default queue reaches NATS (tests count or fail connections here). */
  connectBus?: BusConnector;
  /** Epoch milliseconds, for call records. */
  now?: () => number;
  /** The first wait before a failed callback is sent again (500 ms, doubling); tests shorten it. */
  callbackRetryBaseMs?: number;
  /** Ports the host's processes listen on (local mode's replicas and pool): never a callback's destination. */
  localListeners?: LocalListeners;
  /** Components beyond Redis and NATS that no callback may reach (a cluster's controllers). */
  platformEndpoints?: readonly PlatformEndpoint[];
  /** How callback host names are resolved; tests answer as a rebinding DNS server would. */
  resolveHost?: ResolveHost;
  /** Tracing; by default from `config.tracing`, and shut down (its last spans sent) with the gateway. */
  tracing?: Tracing;
  /** Where source triggers' Secrets are read; by default none are (a trigger that needs one says so). */
  triggerSecrets?: TriggerSecrets;
  /** Source triggers' durable state (an S3 poller's view); by default in the stores (Redis, or memory). */
  sourceCheckpoints?: SourceCheckpoints;
  /** How long identity providers' key sets are kept and how often refetched; tests shorten it. */
  jwks?: Partial<JwksCachePolicy>;
}

const emptyDirectory: FunctionDirectory = { list: () => [], get: () => undefined };

/**
 * The gateway's composition root: one per process, with overrides for what the host provides.
 * The host runs it through TOKENS.Gateway, which starts and stops the HTTP server and the async
 * workers together.
 */
export function createGatewayContainer(
  config: GatewayConfig,
  overrides: GatewayOverrides = {},
): DependencyContainer {
  const c = root.createChildContainer();
  const routes = overrides.routes ?? new RouteTable();
  c.register(TOKENS.Config, { useValue: config });
  c.register(TOKENS.Registry, { useValue: overrides.registry ?? new Registry() });
  c.register(TOKENS.RouteTable, { useValue: routes });
  c.register(TOKENS.ApiKeys, {
    useValue: overrides.apiKeys ?? new HashedApiKeys(config.apiKeys, config.keyRateLimit),
  });
  c.register(TOKENS.Logger, { useValue: overrides.logger ?? createLogger({ component: 'gateway' }) });
  c.register(TOKENS.Directory, { useValue: overrides.directory ?? emptyDirectory });
  c.register(TOKENS.Readiness, { useValue: overrides.readiness ?? { notReadyReason: () => undefined } });
  c.register(TOKENS.SystemInfo, { useValue: overrides.info ?? { version: '0.1.0', mode: 'kubernetes' } });
  c.register(TOKENS.Waker, { useValue: overrides.waker ?? noWaker });
  c.register(TOKENS.Clock, { useValue: systemClock });
  c.register(TOKENS.Tracing, { useValue: overrides.tracing ?? startTracing(config.tracing) });
  c.registerSingleton(TOKENS.Metrics, GatewayMetrics);
  c.registerSingleton(TOKENS.Invoker, Invoker);
  registerAsync(c, config, overrides);
  c.register(TOKENS.FunctionStats, {
    useFactory: instanceCachingFactory(
      (d) =>
        new FunctionStats(
          config.ui.stats,
          d.resolve(TOKENS.Registry),
          routes,
          d.resolve(TOKENS.Clock),
          d.resolve<Logger>(TOKENS.Logger),
        ),
    ),
  });
  c.register(TOKENS.UiAssets, { useFactory: instanceCachingFactory(() => new UiAssets()) });
  c.register(TOKENS.SystemApp, {
    useFactory: (d) =>
      createSystemApp({
        keys: d.resolve(TOKENS.ApiKeys),
        directory: d.resolve(TOKENS.Directory),
        info: d.resolve(TOKENS.SystemInfo),
        defaultNamespace: config.defaultNamespace,
        openfaasNamespace: config.openfaasNamespace,
        invocations: (key) => d.resolve<GatewayMetrics>(TOKENS.Metrics).invocations(key),
        log: d.resolve(TOKENS.Logger),
        calls: d.resolve(TOKENS.CallAdmin),
        ...(overrides.logs === undefined ? {} : { logs: overrides.logs }),
        stats: { stats: d.resolve(TOKENS.FunctionStats), tracingUiUrl: config.ui.tracingUiUrl },
      }),
  });
  c.registerSingleton(TOKENS.Server, GatewayServer);
  c.register(TOKENS.MetricsServer, {
    useValue: new MetricsServer(c.resolve(TOKENS.Registry), config.host, config.metricsPort),
  });
  c.registerSingleton(TOKENS.Gateway, Gateway);
  return c;
}

/** Async calls: the stores, the queue, the front door, the workers and their admin routes. */
function registerAsync(c: DependencyContainer, config: GatewayConfig, overrides: GatewayOverrides): void {
  const log = c.resolve<Logger>(TOKENS.Logger);
  const now = overrides.now ?? Date.now;
  const stores = overrides.stores ?? createStores(config.store, { logger: log });
  // The gateway's own port once it listens (Gateway.listen adds it when PORT is 0).
  const ownPorts = new Set<number>(config.port === 0 ? [] : [config.port]);
  const egress = new EgressGuard({
    config: config.egress,
    platform: platformView(
      [...configuredEndpoints(config), ...(overrides.platformEndpoints ?? [])],
      ownPorts,
      overrides.localListeners,
    ),
    ...(overrides.resolveHost === undefined ? {} : { resolve: overrides.resolveHost }),
  });
  c.register(TOKENS.OwnPorts, { useValue: ownPorts });
  // Key sets come from outside, so through the same egress policy as callbacks.
  const jwks = new JwksFetcher(egress);
  c.register(TOKENS.JwtAdmission, {
    useFactory: instanceCachingFactory(
      (d) =>
        new JwtVerifier(
          new JwksCache(
            jwks.fetch,
            d.resolve(TOKENS.Clock),
            { ...DEFAULT_JWKS_CACHE_POLICY, ...overrides.jwks },
            log.child({ part: 'jwks' }),
          ),
          d.resolve(TOKENS.Clock),
        ),
    ),
  });
  const queue = new CallQueue(
    config.async,
    log.child({ part: 'async' }),
    overrides.bus,
    overrides.connectBus,
  );
  const registry = c.resolve<Registry>(TOKENS.Registry);
  new QueueMetrics(registry, () => queue.connection, now);
  new DependencyMetrics(registry, {
    ...(config.async.natsUrl === undefined ? {} : { nats: () => queue.connection }),
    ...('connection' in stores ? { redis: (stores as RedisStores).connection } : {}),
  });
  c.register(TOKENS.Now, { useValue: now });
  c.register(TOKENS.Stores, { useValue: stores });
  const { natsUrl } = config.async;
  const { natsCredentials } = config.events;
  const eventsBus = new EventsBus(
    natsUrl === undefined || natsCredentials === undefined
      ? undefined
      : { natsUrl, credentials: natsCredentials },
    () => queue.connection,
    log.child({ part: 'events' }),
  );
  const events = new FunctionEvents(config.events, () => eventsBus.bus());
  c.register(TOKENS.FunctionEvents, { useValue: events });
  c.register(TOKENS.Destinations, {
    useFactory: instanceCachingFactory(
      (d) =>
        new Destinations({
          config: config.events,
          directory: d.resolve(TOKENS.Directory),
          events,
          calls: stores.calls,
          queue,
          log: log.child({ part: 'destinations' }),
          registry,
          now,
        }),
    ),
  });
  c.register(TOKENS.StateService, {
    useFactory: instanceCachingFactory((d) => ({
      service:
        config.stateService === undefined
          ? undefined
          : new StateService(
              config.stateService,
              stores.state,
              d.resolve(TOKENS.Directory),
              stateLimits(config.store.state),
              log.child({ part: 'state-service' }),
              registry,
              new EventsEndpoint(
                config.events,
                events,
                d.resolve(TOKENS.Directory),
                log.child({ part: 'events' }),
                registry,
              ),
            ),
    })),
  });
  c.register(TOKENS.RateLimiter, {
    useFactory: instanceCachingFactory(
      (d) =>
        new RateLimiter(
          stores.rateLimits,
          d.resolve(TOKENS.ApiKeys),
          d.resolve(TOKENS.Registry),
          d.resolve(TOKENS.Clock),
          log.child({ part: 'rate-limits' }),
        ),
    ),
  });
  c.register(TOKENS.CallQueue, { useValue: queue });
  c.register(TOKENS.EventSourceParts, {
    useFactory: instanceCachingFactory((d) =>
      createEventSourceParts({
        directory: d.resolve(TOKENS.Directory),
        routes: d.resolve(TOKENS.RouteTable),
        invoker: d.resolve(TOKENS.Invoker),
        bus: () => queue.whenConnected(),
        deadLetters: stores.deadLetters,
        claims: stores.claims,
        secrets: overrides.triggerSecrets ?? new LocalTriggerSecrets({}, undefined),
        checkpoints: overrides.sourceCheckpoints ?? { of: (key) => stores.checkpoints.checkpoint(key) },
        provision: (overrides.info?.mode ?? 'kubernetes') === 'local',
        owner: config.schedules.owner,
        maxBodyBytes: Math.min(config.maxBodyBytes, config.async.maxBodyBytes),
        secretGraceMs: config.sources.secretGraceMs,
        registry: d.resolve(TOKENS.Registry),
        clock: d.resolve(TOKENS.Clock),
        log,
        destinations: d.resolve(TOKENS.Destinations),
        tracing: d.resolve(TOKENS.Tracing),
      }),
    ),
  });
  c.registerSingleton(TOKENS.AsyncMetrics, AsyncMetrics);
  c.register(TOKENS.AsyncFrontDoor, {
    useFactory: instanceCachingFactory(
      (d) =>
        new AsyncFrontDoor({
          config,
          routes: d.resolve(TOKENS.RouteTable),
          keys: d.resolve(TOKENS.ApiKeys),
          jwt: d.resolve(TOKENS.JwtAdmission),
          limiter: d.resolve(TOKENS.RateLimiter),
          calls: stores.calls,
          queue,
          metrics: d.resolve(TOKENS.AsyncMetrics),
          log,
          now,
          egress,
          readiness: d.resolve(TOKENS.Readiness),
          tracing: d.resolve(TOKENS.Tracing),
        }),
    ),
  });
  c.register(TOKENS.CallAdmin, {
    useValue: new CallAdmin({ calls: stores.calls, deadLetters: stores.deadLetters, queue, now }),
  });
  c.register(TOKENS.AsyncCalls, {
    useFactory: instanceCachingFactory((d) => {
      const callbacks = new CallbackSender(config.async, log.child({ part: 'callbacks' }), {
        retryBaseMs: overrides.callbackRetryBaseMs,
        egress,
        records: stores.calls,
        tracing: d.resolve(TOKENS.Tracing),
      });
      const worker = new CallWorker(
        {
          calls: stores.calls,
          deadLetters: stores.deadLetters,
          queue,
          routes: d.resolve(TOKENS.RouteTable),
          directory: d.resolve(TOKENS.Directory),
          invoker: d.resolve(TOKENS.Invoker),
          callbacks,
          metrics: d.resolve(TOKENS.AsyncMetrics),
          readiness: d.resolve(TOKENS.Readiness),
          log: log.child({ part: 'async-worker' }),
          now,
          random: Math.random,
          maxResultBytes: config.store.calls.maxResultBodyBytes,
          tracing: d.resolve(TOKENS.Tracing),
          destinations: d.resolve(TOKENS.Destinations),
        },
        config.async.concurrency,
      );
      const sources = new EventSources({
        directory: d.resolve(TOKENS.Directory),
        routes: d.resolve(TOKENS.RouteTable),
        invoker: d.resolve(TOKENS.Invoker),
        bus: () => queue.whenConnected(),
        stores,
        schedules: config.schedules,
        manageTopology: (overrides.info?.mode ?? 'kubernetes') === 'local',
        concurrency: config.async.concurrency,
        registry: d.resolve(TOKENS.Registry),
        log,
        tracing: d.resolve(TOKENS.Tracing),
        sources: d.resolve(TOKENS.EventSourceParts),
        destinations: { sender: d.resolve(TOKENS.Destinations), sealKey: config.events.sealKey },
      });
      return new AsyncCalls(queue, worker, callbacks, overrides.stores === undefined ? stores : undefined, {
        start: () => sources.start(),
        stop: async () => {
          await sources.stop();
          await eventsBus.close();
        },
      });
    }),
  });
}
