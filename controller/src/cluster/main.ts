import { ConfigError, createLogger } from '@nimbus/api';
import { KubeClient, loadKubeConfig } from '@nimbus/kube';
import { TOKENS } from '../tokens.js';
import type { ClusterController } from './cluster-controller.js';
import { loadClusterConfig } from './config.js';
import { createClusterContainer } from './container.js';

/** `node controller/dist/src/cluster/main.js`: the controller in a cluster (the Helm chart runs this). */
async function main(): Promise<void> {
  const config = loadClusterConfig(process.env);
  const client = new KubeClient(loadKubeConfig(process.env));
  const container = createClusterContainer(config, client);
  const controller = container.resolve<ClusterController>(TOKENS.ClusterController);
  await controller.start(config.metricsPort, config.metricsHost);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    createLogger({ component: 'controller' }).info('stopping', { signal });
    controller
      .stop(config.drainMs)
      .then(() => {
        client.close();
        process.exit(0);
      })
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  const log = createLogger({ component: 'controller' });
  // A bad setting is one line naming the key, not a stack trace.
  if (err instanceof ConfigError) log.error(`invalid configuration: ${err.message}`, { key: err.key });
  else log.error('could not start', { err });
  process.exit(1);
});
