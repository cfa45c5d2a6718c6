import 'reflect-metadata';
import { createLogger } from '@nimbus/api';
import { ConfigError } from '@nimbus/api';
import { type ClusterConfig, loadClusterConfig } from './config.js';
import { createClusterGateway } from './container.js';

/**
 * The gateway in a cluster (the Helm chart runs `node gateway/dist/src/cluster/main.js`).
 * A bad setting exits 1 with one JSON line naming it; SIGTERM drains and exits 0.
 */
async function main(): Promise<void> {
  let config: ClusterConfig;
  try {
    config = loadClusterConfig(process.env);
  } catch (err) {
    const key = err instanceof ConfigError ? err.key : undefined;
    createLogger({ component: 'gateway' }).error(`invalid configuration: ${(err as Error).message}`, { key });
    process.exit(1);
  }
  const gateway = createClusterGateway(config);
  const { log } = gateway;
  const address = await gateway.server.listen();
  gateway.start();
  log.info('gateway listening', {
    address: address.address,
    port: address.port,
    namespaces: config.watchNamespaces ?? 'all',
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping: not ready, still serving while the endpoints catch up', {
      signal,
      shutdownDelayMs: config.shutdownDelayMs,
      drainTimeoutMs: config.drainTimeoutMs,
    });
    gateway.beginShutdown();
    new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs))
      .then(() => gateway.stop(config.drainTimeoutMs))
      .then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error('stopping failed', { err });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger({ component: 'gateway' }).error('the gateway failed to start', { err });
  process.exit(1);
});
