import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Reply, eventually, send } from '@nimbus/testkit';
import { helmBinary } from '../../src/harness/helm.js';
import { type Progress, sh, stderrProgress } from './host.js';
import { repositoryAndTag } from './images.js';
import type { RealNode } from './node.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const CHART_DIR = join(REPO_ROOT, 'charts', 'nimbus');
export const EXAMPLES_DIR = join(REPO_ROOT, 'examples');

export const RELEASE = 'nimbus';
export const RELEASE_NAMESPACE = 'nimbus';

/**
 * The only values a single node with no registry needs: the Redis and NATS images are the
 * stand-ins built from Debian's packages (the chart's defaults come from Docker Hub). Everything
 * else is the chart's default, as `helm install` gives an operator.
 */
export function singleNodeValues(node: RealNode): string[] {
  const services = repositoryAndTag(node.images.services);
  return [
    '--set',
    `redis.image.repository=${services.repository}`,
    '--set-string',
    `redis.image.tag=${services.tag}`,
    '--set',
    `nats.image.repository=${services.repository}`,
    '--set-string',
    `nats.image.tag=${services.tag}`,
  ];
}

/** The chart, installed on the real node with helm, and what a test needs to call through it. */
export class NimbusRelease {
  private constructor(
    readonly node: RealNode,
    private readonly helmPath: string,
    /** `http://<gateway ClusterIP>:8080`, reached from the node through kube-proxy's rules. */
    readonly gatewayUrl: string,
    readonly adminKey: string,
    readonly invokeKey: string,
  ) {}

  /** `helm install --wait` with singleNodeValues and `extraValues` (more `--set`s, say). */
  static async install(
    node: RealNode,
    progress: Progress = stderrProgress,
    extraValues: readonly string[] = [],
  ): Promise<NimbusRelease> {
    const helmPath = await helmBinary(progress);
    const started = Date.now();
    await runHelm(node, helmPath, [
      'install',
      RELEASE,
      CHART_DIR,
      '--namespace',
      RELEASE_NAMESPACE,
      '--create-namespace',
      '--wait',
      '--timeout',
      '5m',
      ...singleNodeValues(node),
      ...extraValues,
    ]);
    progress(`helm install --wait took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const service = JSON.parse(
      (await node.kubectl(['-n', RELEASE_NAMESPACE, 'get', 'service', `${RELEASE}-gateway`, '-o', 'json']))
        .stdout,
    ) as { spec: { clusterIP: string } };
    const keys = await secretValue(node, `${RELEASE}-api-keys`, 'api-keys');
    const byScope = Object.fromEntries(
      keys.split(',').map((entry) => entry.split(':', 2) as [string, string]),
    ) as Record<string, string>;
    const release = new NimbusRelease(
      node,
      helmPath,
      `http://${service.spec.clusterIP}:8080`,
      byScope.admin as string,
      byScope.invoke as string,
    );
    await eventually(
      async () => ((await release.get('/healthz')).status === 200 ? true : undefined),
      60_000,
      'the gateway to answer through its ClusterIP',
    );
    return release;
  }

  /** `helm upgrade --reuse-values --wait` with `values` (`--set`s) on top. */
  upgrade(values: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    return this.helm([
      'upgrade',
      RELEASE,
      CHART_DIR,
      '--namespace',
      RELEASE_NAMESPACE,
      '--reuse-values',
      ...values,
      '--wait',
      '--timeout',
      '5m',
    ]);
  }

  helm(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    return runHelm(this.node, this.helmPath, args);
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return send(this.gatewayUrl, path, { headers, timeoutMs: 30_000 });
  }

  post(path: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
    return send(this.gatewayUrl, path, { method: 'POST', body, headers, timeoutMs: 30_000 });
  }

  /** Any method, a JSON body given its length (as faas-cli's Go client sends a DELETE's too). */
  send(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
    return send(this.gatewayUrl, path, {
      method,
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        ...headers,
      },
      timeoutMs: 30_000,
    });
  }

  get admin(): Record<string, string> {
    return { authorization: `Bearer ${this.adminKey}` };
  }

  /** `kubectl apply -f -` of a manifest in the namespace. */
  apply(namespace: string, manifest: string): Promise<{ stdout: string; stderr: string }> {
    return this.node.kubectl(['apply', '-n', namespace, '-f', '-'], manifest);
  }
}

function runHelm(
  node: RealNode,
  helmPath: string,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string }> {
  return sh(helmPath, ['--kubeconfig', node.kubeconfigPath, ...args], { timeoutMs: 10 * 60_000 });
}

/** One key of a Secret, decoded. */
export async function secretValue(node: RealNode, name: string, key: string): Promise<string> {
  const { stdout } = await node.kubectl([
    '-n',
    RELEASE_NAMESPACE,
    'get',
    'secret',
    name,
    '-o',
    `jsonpath={.data.${key}}`,
  ]);
  return Buffer.from(stdout, 'base64').toString('utf8');
}
