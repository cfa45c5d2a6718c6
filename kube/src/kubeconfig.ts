import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where the API server and credentials come from, in the order kubectl uses: `KUBECONFIG`,
 * then the pod's service account when running in a cluster, then `~/.kube/config`.
 */
export function loadKubeConfig(env: Env): KubeConfig {
  const kc = new KubeConfig();
  const file = env.KUBECONFIG?.split(':').find((f) => f !== '');
  if (file !== undefined) {
    kc.loadFromFile(file);
  } else if (env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '') {
    kc.loadFromCluster();
  } else if (existsSync(join(homedir(), '.kube', 'config'))) {
    kc.loadFromFile(join(homedir(), '.kube', 'config'));
  } else {
    throw new Error('no Kubernetes credentials: set KUBECONFIG, or run in a pod with a service account');
  }
  if (kc.getCurrentCluster() === null) throw new Error('the kubeconfig names no current cluster');
  return kc;
}
