import type { Server } from 'node:http';
import { type Clock, systemClock } from '@nimbus/api/clock';
import { JsonLogger, type LogSink, type Logger } from '@nimbus/api/log';
import { type DependencyContainer, Lifecycle, container } from 'tsyringe';
import type { ProcessConfig, RuntimeConfig } from './config.js';
import type { FunctionState } from './contract.js';
import { createPublisher } from './events/publisher-factory.js';
import { createHttpServer } from './http/http-server.js';
import { Readiness } from './http/readiness.js';
import { RuntimeServer, type SpecialiseRoute } from './http/runtime-server.js';
import { ConcurrencyLimiter } from './invoke/concurrency-limiter.js';
import { ContextFactory } from './invoke/context.js';
import type { EventPublisher } from './invoke/event-publisher.js';
import { type FunctionInvoker, GatewayInvoker } from './invoke/function-invoker.js';
import { type HandlerLoader, ModuleHandlerLoader } from './invoke/handler-loader.js';
import { HandlerSlot } from './invoke/handler-slot.js';
import { InvocationRunner } from './invoke/invocation-runner.js';
import { createUuidGenerator } from './invoke/random-uuid.js';
import { RuntimeMetrics } from './metrics/runtime-metrics.js';
import { PoolReplica } from './pool/pool-replica.js';
import { noSpecialiseRoute } from './pool/specialise-endpoint.js';
import { Runtime } from './runtime.js';
import { createFunctionState } from './state/state-factory.js';
import { type SupervisorChannel, ipcSupervisorChannel } from './supervisor-channel.js';
import { TOKENS } from './tokens.js';

/** Adapters a test (or a future Redis/NATS-enabled build) can swap in. */
export interface RuntimeOverrides {
  readonly clock?: Clock;
  readonly logSink?: LogSink;
  readonly idGenerator?: () => string;
  readonly handlerLoader?: HandlerLoader;
  readonly stateStore?: FunctionState;
  readonly publisher?: EventPublisher;
  readonly invoker?: FunctionInvoker;
  readonly supervisor?: SupervisorChannel;
  /** The server to serve on; a pool replica hands its listening one to the function it takes on. */
  readonly httpServer?: Server;
  /** Who answers /_/specialise: a pool replica's endpoint, else a 404. */
  readonly specialiseRoute?: SpecialiseRoute;
}

export interface PoolOverrides extends RuntimeOverrides {
  /** Where a specialised function's env lands instead of `process.env`. */
  readonly environment?: Record<string, string | undefined>;
}

const stdoutSink: LogSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** The composition root: one child container per runtime, every service a singleton within it. */
export function createContainer(
  config: RuntimeConfig,
  overrides: RuntimeOverrides = {},
): DependencyContainer {
  const c = container.createChildContainer();
  const clock = overrides.clock ?? systemClock;
  c.register(TOKENS.Config, { useValue: config });
  c.register(TOKENS.Clock, { useValue: clock });
  const logger = new JsonLogger(overrides.logSink ?? stdoutSink, clock, config.logLevel, {
    function: config.functionName,
  });
  c.register(TOKENS.Logger, { useValue: logger });
  c.register(TOKENS.IdGenerator, { useValue: overrides.idGenerator ?? createUuidGenerator() });
  c.register(TOKENS.StateStore, {
    useValue: overrides.stateStore ?? createFunctionState(config, { clock, logger, ipc: process }),
  });
  c.register(TOKENS.Publisher, {
    useValue: overrides.publisher ?? createPublisher(config, { clock, ipc: process }),
  });
  c.register(TOKENS.Supervisor, { useValue: overrides.supervisor ?? ipcSupervisorChannel(process) });
  c.register(TOKENS.HttpServer, { useValue: overrides.httpServer ?? createHttpServer() });
  c.register(TOKENS.SpecialiseRoute, { useValue: overrides.specialiseRoute ?? noSpecialiseRoute });
  if (overrides.invoker) c.register(TOKENS.Invoker, { useValue: overrides.invoker });
  else singleton(c, TOKENS.Invoker, GatewayInvoker);
  if (overrides.handlerLoader) c.register(TOKENS.HandlerLoader, { useValue: overrides.handlerLoader });
  else singleton(c, TOKENS.HandlerLoader, ModuleHandlerLoader);
  singleton(c, TOKENS.Limiter, ConcurrencyLimiter);
  singleton(c, TOKENS.HandlerSlot, HandlerSlot);
  singleton(c, TOKENS.Readiness, Readiness);
  singleton(c, TOKENS.Metrics, RuntimeMetrics);
  singleton(c, TOKENS.ContextFactory, ContextFactory);
  singleton(c, TOKENS.InvocationRunner, InvocationRunner);
  singleton(c, TOKENS.RuntimeServer, RuntimeServer);
  singleton(c, TOKENS.Runtime, Runtime);
  return c;
}

/** The server factory: a runtime ready to `start()`. */
export function createRuntime(config: RuntimeConfig, overrides?: RuntimeOverrides): Runtime {
  return createContainer(config, overrides).resolve<Runtime>(TOKENS.Runtime);
}

/**
 * A generic warm-pool replica (NIMBUS_POOL=1). Its own adapters are made now; the function's
 * container is composed at specialise, from the settings that come with it, around the same
 * server, supervisor channel, clock and log sink.
 */
export function createPoolReplica(
  config: ProcessConfig,
  /** The Bearer token `POST /_/specialise` needs (taken from NIMBUS_POOL_TOKEN_FILE); undefined: IPC only. */
  poolToken: string | undefined,
  overrides: PoolOverrides = {},
): PoolReplica {
  const { environment = process.env, ...runtimeOverrides } = overrides;
  const clock = overrides.clock ?? systemClock;
  const logSink = overrides.logSink ?? stdoutSink;
  const supervisor = overrides.supervisor ?? ipcSupervisorChannel(process);
  const httpServer = overrides.httpServer ?? createHttpServer();
  const logger = new JsonLogger(logSink, clock, 'info', {});
  const shared = { ...runtimeOverrides, clock, logSink, supervisor, httpServer };
  return new PoolReplica(
    config,
    poolToken,
    httpServer,
    supervisor,
    logger,
    environment,
    (functionConfig, specialiseRoute) => {
      const c = createContainer(functionConfig, { ...shared, specialiseRoute });
      const runtime = c.resolve<Runtime>(TOKENS.Runtime);
      return {
        logger: c.resolve<Logger>(TOKENS.Logger),
        load: () => runtime.load(),
        shutdown: () => runtime.shutdown(),
      };
    },
  );
}

// biome-ignore lint/suspicious/noExplicitAny: tsyringe's constructor type takes any arguments.
type Constructor<T> = new (...args: any[]) => T;

function singleton<T>(c: DependencyContainer, token: symbol, type: Constructor<T>): void {
  c.register(token, { useClass: type }, { lifecycle: Lifecycle.ContainerScoped });
}
