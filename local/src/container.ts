import 'reflect-metadata';
import { type Logger, createLogger } from '@nimbus/api';
import { type Clock, systemClock } from '@nimbus/api';
import { RouteTable } from '@nimbus/gateway';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import { type Stores, createStores } from '@nimbus/store';
import { type DependencyContainer, container as root } from 'tsyringe';
import type { LocalConfig } from './config.js';
import { LocalPlatform } from './local-platform.js';
import type { ReadinessCheck } from './process/command-replica.js';
import { LogBook } from './process/log-book.js';
import { ProcessBackend } from './process/process-backend.js';
import { PublishHost } from './process/publish-host.js';
import { checkReadiness } from './process/readiness-check.js';
import { inheritedEnv } from './process/replica-env.js';
import {
  type Spawn,
  type SpawnCommand,
  spawnCommand,
  spawnPythonRuntime,
  spawnRuntime,
} from './process/spawn.js';
import { StateHost } from './process/state-host.js';
import { WarmPool, WarmPools } from './process/warm-pool.js';
import { TOKENS } from './tokens.js';

export interface LocalOverrides {
  clock?: Clock;
  logger?: Logger;
  spawn?: Spawn;
  /** How a container function's command is started. */
  spawnCommand?: SpawnCommand;
  /** How runtime-python is started, and from where. */
  spawnPython?: Spawn;
  pythonRuntimeEntry?: string;
  readinessCheck?: ReadinessCheck;
  runtimeEntry?: string;
  /** The stores of function state, call records and dead letters; by default from `config.store`. */
  stores?: Stores;
}

/** Local mode's composition root: the process backend and the folder-driven controller. */
export function createLocalContainer(
  config: LocalConfig,
  overrides: LocalOverrides = {},
): DependencyContainer {
  const c = root.createChildContainer();
  c.register(TOKENS.LocalConfig, { useValue: config });
  c.register(TOKENS.Clock, { useValue: overrides.clock ?? systemClock });
  c.register(TOKENS.Logger, {
    useValue: overrides.logger ?? createLogger({ component: 'local' }, config.logLevel),
  });
  c.register(TOKENS.RouteTable, { useValue: new RouteTable(c.resolve(TOKENS.Clock)) });
  c.register(TOKENS.RuntimeEntry, { useValue: overrides.runtimeEntry ?? runtimeEntryPath() });
  c.register(TOKENS.Spawn, { useValue: overrides.spawn ?? spawnRuntime });
  c.register(TOKENS.SpawnCommand, { useValue: overrides.spawnCommand ?? spawnCommand });
  c.register(TOKENS.ReadinessCheck, { useValue: overrides.readinessCheck ?? checkReadiness });
  const python = {
    entry: overrides.pythonRuntimeEntry ?? pythonRuntimeEntryPath(),
    spawn: overrides.spawnPython ?? spawnPythonRuntime,
  };
  c.register(TOKENS.PythonRuntime, { useValue: python });
  c.register(TOKENS.LogBook, { useValue: new LogBook(c.resolve(TOKENS.Clock), config.logLinesPerFunction) });
  c.register(TOKENS.Backoff, { useValue: config.backoff });
  const pool = (entry: string, spawn: Spawn, runtime: string) =>
    new WarmPool(
      config.warmPoolSize,
      entry,
      inheritedEnv(process.env),
      spawn,
      c.resolve(TOKENS.Clock),
      c.resolve<Logger>(TOKENS.Logger).child({ component: 'warm-pool', runtime }),
    );
  c.register(TOKENS.WarmPools, {
    useValue: new WarmPools(
      pool(overrides.runtimeEntry ?? runtimeEntryPath(), overrides.spawn ?? spawnRuntime, 'node20'),
      pool(python.entry, python.spawn, 'python3.11'),
    ),
  });
  // The stores (Redis, or in memory) shared with the gateway. Replicas reach function state only
  // through the state host, over IPC: it enforces the value size and quotas they cannot bypass.
  const stores =
    overrides.stores ??
    createStores(config.store, {
      logger: c.resolve<Logger>(TOKENS.Logger),
      clock: c.resolve<Clock>(TOKENS.Clock),
    });
  c.register(TOKENS.Stores, { useValue: stores });
  c.register(TOKENS.StateHost, { useValue: new StateHost(stores.state) });
  c.register(TOKENS.PublishHost, { useValue: new PublishHost() });
  c.registerSingleton(TOKENS.ProcessBackend, ProcessBackend);
  c.registerSingleton(TOKENS.LocalPlatform, LocalPlatform);
  return c;
}
