import type { FunctionResource, Runtime } from '@nimbus/api';
import { inlineFileName } from '@nimbus/api';
import type { DeploymentSettings } from './deployment.js';
import { functionLabels, functionOwner } from './metadata.js';
import type { Deployment, ObjectMeta } from './objects.js';
import {
  LIVENESS_PROBE,
  RUNTIME_PORT as PORT,
  SHUTDOWN_DELAY_MS,
  containerSecurity,
  podSecurityContext,
  readinessProbe,
  tmpMount,
  tmpVolume,
} from './runtime-pod.js';
import { runtimeSettings } from './runtime-settings.js';

/** On a pool pod: which runtime it is a generic replica of. Removed when a function adopts it. */
export const POOL_LABEL = 'nimbus.dev/pool';
/** On a pod a function took over from the pool: it serves until the function's own pods are ready. */
export const ADOPTED_LABEL = 'nimbus.dev/adopted';

const RUNTIME: Runtime = 'node20';

export function poolDeploymentName(runtime: Runtime = RUNTIME): string {
  return `nimbus-pool-${runtime}`;
}

/**
 * Whether a function can take over a pool pod: its code inline (a pool pod runs the platform's
 * image and is sent the code) and nothing mounted (a running pod cannot gain volumes: neither
 * the function's secrets nor the Redis password of its state).
 */
export function poolable(fn: FunctionResource): boolean {
  return (
    fn.spec.runtime === RUNTIME &&
    fn.spec.image === undefined &&
    fn.spec.source?.inline !== undefined &&
    (fn.spec.secrets ?? []).length === 0 &&
    fn.spec.state?.enabled !== true
  );
}

/**
 * The warm pool of one namespace: `size` generic runtime-node pods, ready to take on any poolable
 * function there on its first request at zero. Pure. It belongs to no Function (the controller
 * removes it when the namespace has no function at zero left). Its pods are Ready while generic
 * (probed on /_/health), so a pod that takes on a function is routable the moment it is relabelled.
 */
export function buildPoolDeployment(
  namespace: string,
  settings: DeploymentSettings,
  size: number,
  token: string,
): Deployment {
  const labels = {
    'app.kubernetes.io/name': poolDeploymentName(),
    'app.kubernetes.io/managed-by': 'nimbus',
    [POOL_LABEL]: RUNTIME,
  };
  const metadata: ObjectMeta = { name: poolDeploymentName(), namespace, labels, ownerReferences: [] };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: size,
      selector: { matchLabels: { [POOL_LABEL]: RUNTIME } },
      template: {
        metadata: { labels, annotations: {} },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // A function's drain once it has taken a pod over: up to the longest timeout allowed (1 h).
          terminationGracePeriodSeconds: 3600 + SHUTDOWN_DELAY_MS / 1000 + 5,
          securityContext: podSecurityContext(settings.runAsUser),
          containers: [
            {
              name: 'function',
              image: settings.runtimeImage,
              ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
              env: [
                { name: 'HOST', value: '0.0.0.0' },
                { name: 'PORT', value: String(PORT) },
                { name: 'NIMBUS_POOL', value: '1' },
                // Only the controller, which wrote it here, specialises a pool pod.
                { name: 'NIMBUS_POOL_TOKEN', value: token },
                { name: 'NIMBUS_GATEWAY_URL', value: settings.gatewayUrl },
                { name: 'NIMBUS_SHUTDOWN_DELAY_MS', value: String(SHUTDOWN_DELAY_MS) },
              ],
              // Ready while generic: a pod that takes a function on is routable once relabelled.
              readinessProbe: readinessProbe('/_/health'),
              livenessProbe: LIVENESS_PROBE,
              resources: {},
              securityContext: containerSecurity(),
              volumeMounts: [tmpMount()],
            },
          ],
          volumes: [tmpVolume()],
        },
      },
    },
  };
}

/** The pool token the pool Deployment carries, to keep it across controller restarts. */
export function poolTokenOf(deployment: object | undefined): string | undefined {
  const spec = (deployment as { spec?: Deployment['spec'] } | undefined)?.spec;
  return spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'NIMBUS_POOL_TOKEN')?.value;
}

/** What a pool pod is sent to become one replica of `fn`: the same settings its own pods get, and its code. */
export function specialisation(
  fn: FunctionResource,
  settings: DeploymentSettings,
): { env: Record<string, string>; files: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value;
  Object.assign(env, runtimeSettings(fn), { NIMBUS_GATEWAY_URL: settings.gatewayUrl });
  if (settings.errorDetail !== undefined) env.NIMBUS_ERROR_DETAIL = settings.errorDetail;
  return { env, files: { [inlineFileName(fn.spec.handler)]: fn.spec.source?.inline ?? '' } };
}

/**
 * The merge patch that moves a specialised pool pod from the pool to the function: the pool's
 * label goes (its ReplicaSet lets the pod go and starts a replacement), the function's labels
 * come (its Service's EndpointSlice lists it), and the Function owns it (deleting the Function
 * deletes it). The pool's pod-template-hash stays, so the function's own ReplicaSet never adopts it.
 */
export function adoptionPatch(fn: FunctionResource): unknown {
  if (fn.metadata.uid === undefined) throw new Error(`Function ${fn.metadata.name} has no uid`);
  return {
    metadata: {
      labels: { ...functionLabels(fn), [POOL_LABEL]: null, [ADOPTED_LABEL]: 'true' },
      ownerReferences: [functionOwner(fn.metadata.name, fn.metadata.uid)],
    },
  };
}
