import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import {
  type EventSourceParts,
  TOKENS as GATEWAY,
  type Gateway,
  LocalTriggerSecrets,
  createGatewayContainer,
} from '@nimbus/gateway';
import { type Stores, redactUrl } from '@nimbus/store';
import type { LocalConfig } from './config.js';
import { type LocalOverrides, createLocalContainer } from './container.js';
import { folderFs } from './folder-listing.js';
import { FolderWatcher, WATCH_TIMING } from './folder-watcher.js';
import type { LocalPlatform } from './local-platform.js';
import type { LogBook } from './process/log-book.js';
import type { ProcessBackend } from './process/process-backend.js';
import type { PublishHost } from './process/publish-host.js';
import type { WarmPools } from './process/warm-pool.js';
import { ownWrites, statePaths } from './state-paths.js';
import { TOKENS } from './tokens.js';

export interface LocalMode {
  url: string;
  platform: LocalPlatform;
  close(): Promise<void>;
}

/**
 * When no admin key is configured, makes one for this run and writes it where the user can
 * read it: /system stays closed to anyone without it, even on a laptop.
 */
async function ensureAdminKey(config: LocalConfig, log: Logger): Promise<LocalConfig> {
  if (config.gateway.apiKeys.some((k) => k.scope === 'admin')) return config;
  const key = randomBytes(24).toString('base64url');
  const file = statePaths(config.stateDir).adminKey;
  await mkdir(config.stateDir, { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  log.info('generated an admin API key for /system; it is in the file named here', { file });
  const apiKeys = Object.freeze([...config.gateway.apiKeys, { scope: 'admin' as const, key }]);
  return { ...config, gateway: Object.freeze({ ...config.gateway, apiKeys }) };
}

/** The whole platform in one process: the gateway, and a controller with a process backend. */
export async function startLocalMode(
  initial: LocalConfig,
  overrides: LocalOverrides = {},
): Promise<LocalMode> {
  const local = createLocalContainer(initial, overrides);
  const log = local.resolve<Logger>(TOKENS.Logger);
  const config = await ensureAdminKey(initial, log);
  log.info('local mode: no cluster; replicas run as child processes on loopback', {
    dir: config.functionsDir,
  });
  if (config.store.redisUrl === undefined)
    log.info('no NIMBUS_REDIS_URL: function state is in memory in this process, lost when it stops', {
      ...config.store.state,
    });
  else log.info('function state is in Redis', { redis: redactUrl(config.store.redisUrl) });
  const platform = local.resolve<LocalPlatform>(TOKENS.LocalPlatform);
  const gateway = createGatewayContainer(config.gateway, {
    routes: local.resolve(TOKENS.RouteTable),
    directory: platform,
    readiness: platform,
    waker: platform,
    logger: log.child({ component: 'gateway' }),
    info: { version: '0.1.0', mode: 'local' },
    stores: local.resolve<Stores>(TOKENS.Stores),
    localListeners: local.resolve<ProcessBackend>(TOKENS.ProcessBackend),
    logs: local.resolve<LogBook>(TOKENS.LogBook),
    triggerSecrets: new LocalTriggerSecrets(config.secrets.env, config.secrets.dir),
  });
  // Status shows each source trigger's health as the gateway's readers report it.
  platform.setSourceHealth(gateway.resolve<EventSourceParts>(GATEWAY.EventSourceParts).health);
  // Replicas' ctx.publish goes into the gateway's bus, with the gateway's checks.
  local.resolve<PublishHost>(TOKENS.PublishHost).attach(gateway.resolve(GATEWAY.FunctionEvents));
  // The HTTP server and the async workers, started and (in close) stopped together.
  const server = gateway.resolve<Gateway>(GATEWAY.Gateway);
  const address = await server.listen();
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  platform.setGatewayUrl(url);
  // runtime-node's pool fills now; runtime-python's when a Python function first appears.
  const pools = local.resolve<WarmPools>(TOKENS.WarmPools);
  pools.node.start();
  // The state folder may sit inside the watched folder (`npm start -- .`); its writes are no edit.
  const watcher = new FolderWatcher(
    config.functionsDir,
    () => {
      log.debug('the functions folder changed; reading it again', { dir: config.functionsDir });
      void platform.reload();
    },
    local.resolve<Clock>(TOKENS.Clock),
    log,
    WATCH_TIMING,
    folderFs(ownWrites(config.stateDir)),
  );
  // Watching before the first read: an edit made while it reads is not lost.
  await watcher.start();
  await platform.reload();
  platform.startAutoscaling();
  log.info('gateway listening', {
    url,
    try: `curl -s '${url}/function/hello?name=Ada'`,
    dashboard: `${url}/ui`,
  });
  return {
    url,
    platform,
    async close() {
      watcher.stop();
      await server.close();
      await pools.stop();
      await platform.shutdown();
      await local.resolve<Stores>(TOKENS.Stores).close();
    },
  };
}
