import 'reflect-metadata';
import { type Logger, createLogger } from '@nimbus/api';
import { type Clock, systemClock } from '@nimbus/api';
import { RouteTable } from '@nimbus/gateway';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { MemoryStateStore } from '@nimbus/store';
import { type DependencyContainer, container as root } from 'tsyringe';
import type { LocalConfig } from './config.js';
import { LocalPlatform } from './local-platform.js';
import { ProcessBackend } from './process/process-backend.js';
import { inheritedEnv } from './process/replica-env.js';
import { type Spawn, spawnRuntime } from './process/spawn.js';
import { StateHost } from './process/state-host.js';
import { WarmPool } from './process/warm-pool.js';
import { TOKENS } from './tokens.js';

export interface LocalOverrides {
  clock?: Clock;
  logger?: Logger;
  spawn?: Spawn;
  runtimeEntry?: string;
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
  c.register(TOKENS.RouteTable, { useValue: new RouteTable() });
  c.register(TOKENS.RuntimeEntry, { useValue: overrides.runtimeEntry ?? runtimeEntryPath() });
  c.register(TOKENS.Spawn, { useValue: overrides.spawn ?? spawnRuntime });
  c.register(TOKENS.Backoff, { useValue: config.backoff });
  c.register(TOKENS.WarmPool, {
    useValue: new WarmPool(
      config.warmPoolSize,
      overrides.runtimeEntry ?? runtimeEntryPath(),
      inheritedEnv(process.env),
      overrides.spawn ?? spawnRuntime,
      c.resolve(TOKENS.Clock),
      c.resolve<Logger>(TOKENS.Logger).child({ component: 'warm-pool' }),
    ),
  });
  // Function state for replicas, when no Redis is configured: one store in this process, reached over IPC.
  c.register(TOKENS.StateHost, {
    useValue: new StateHost(new MemoryStateStore(c.resolve(TOKENS.Clock), config.store.state)),
  });
  c.registerSingleton(TOKENS.ProcessBackend, ProcessBackend);
  c.registerSingleton(TOKENS.LocalPlatform, LocalPlatform);
  return c;
}
