import type { FunctionResource } from '@nimbus/api';
import { handlerOf, inlineFileName } from '@nimbus/api';
import { VERSION_LABEL } from '@nimbus/api/versions';
import { stateToken } from '@nimbus/store';
import type { DeploymentSettings } from './deployment.js';
import {
  ADOPTED_LABEL,
  POOL_LABEL,
  type PoolRuntime,
  functionLabels,
  functionOwner,
  isPoolRuntime,
  poolDeploymentName,
} from './metadata.js';
import type { Deployment, ObjectMeta, Secret } from './objects.js';
import { runtimeImageOf } from './runtime-image.js';
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

/** The pool pod's runtime container: the one whose restarts the healer watches (pool-health.ts). */
export const POOL_RUNTIME_CONTAINER = 'function';

/**
 * Whether a function can take over a pool pod (of its runtime's pool): a runtime of the platform's
 * (node20, python3.11), its code inline (a pool pod runs the platform's image and is sent the
 * code) and nothing mounted (a running pod cannot gain volumes: neither the function's secrets
 * nor its state token).
 */
export function poolable(fn: FunctionResource): boolean {
  return (
    isPoolRuntime(fn.spec.runtime) &&
    fn.spec.image === undefined &&
    fn.spec.source?.inline !== undefined &&
    (fn.spec.secrets ?? []).length === 0 &&
    fn.spec.state?.enabled !== true
  );
}

/** The Secret holding a namespace's pool key: mounted only by the pool pods' init container. */
export const POOL_KEY_SECRET = 'nimbus-pool-key';
export const POOL_KEY_ITEM = 'key';
/** The init container that derives a pool pod's own token (runtime-node/src/pool/pool-token-init.ts). */
export const POOL_TOKEN_INIT = 'pool-token';
const POOL_KEY_DIR = '/var/run/nimbus/pool-key';
const POOL_TOKEN_DIR = '/var/run/nimbus/pool-token';
/** Where the init container leaves the token and the runtime takes it from (NIMBUS_POOL_TOKEN_FILE). */
export const POOL_TOKEN_FILE = `${POOL_TOKEN_DIR}/token`;
const POOL_TOKEN_INIT_SCRIPT = '/app/runtime-node/dist/pool-token-init.cjs';

/**
 * The Secret with a namespace's pool key: random bytes the controller makes once and reads back.
 * Pure: the key is made by the caller. Not owned by the pool Deployment: the pods mount it, so it
 * must exist before they start, and the controller deletes it with the pool.
 */
export function buildPoolKeySecret(namespace: string, key: Uint8Array): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: POOL_KEY_SECRET,
      namespace,
      // One key for the namespace's pools of every runtime.
      labels: { 'app.kubernetes.io/name': 'nimbus-pool', 'app.kubernetes.io/managed-by': 'nimbus' },
      ownerReferences: [],
    },
    type: 'Opaque',
    data: { [POOL_KEY_ITEM]: Buffer.from(key).toString('base64') },
  };
}

/**
 * The warm pool of one runtime in one namespace: `size` generic pods of that runtime's image, ready
 * to take on any poolable function of that runtime there on its first request at zero. Pure. It
 * belongs to no Function (the controller removes it when the namespace has no function of that
 * runtime at zero left). Its pods are Ready while generic (probed on /_/health), so a pod that
 * takes on a function is routable the moment it is relabelled.
 *
 * Only the controller may specialise a pool pod, and each pod has a token of its own,
 * HMAC(pool key, pod UID) (derivePoolToken). No env value holds it: an init container, the only
 * one that mounts the pool key, derives it from the key and the downward API's UID and writes it
 * to a memory-backed emptyDir; the runtime reads and removes it at start, before a function can
 * load. So a function that later runs in the pod finds no token (nor the key), and a token that
 * leaks anyway opens only its own pod, which takes no second function. The init container is
 * runtime-node's script whatever the runtime: the derivation exists once, and both images trust it.
 */
export function buildPoolDeployment(
  namespace: string,
  settings: DeploymentSettings,
  size: number,
  runtime: PoolRuntime,
): Deployment {
  const image = runtimeImageOf(runtime, settings);
  if (image === undefined) throw new Error(`this cluster has no image for a ${runtime} pool`);
  const name = poolDeploymentName(runtime);
  const labels = {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/managed-by': 'nimbus',
    [POOL_LABEL]: runtime,
  };
  const metadata: ObjectMeta = { name, namespace, labels, ownerReferences: [] };
  const tokenMount = { name: 'pool-token', mountPath: POOL_TOKEN_DIR, readOnly: false };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: size,
      selector: { matchLabels: { [POOL_LABEL]: runtime } },
      template: {
        metadata: { labels, annotations: {} },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // A function's drain once it has taken a pod over: up to the longest timeout allowed (1 h).
          terminationGracePeriodSeconds: 3600 + SHUTDOWN_DELAY_MS / 1000 + 5,
          securityContext: podSecurityContext(settings.runAsUser),
          initContainers: [
            {
              name: POOL_TOKEN_INIT,
              image: settings.runtimeImage,
              args: [POOL_TOKEN_INIT_SCRIPT],
              env: [
                { name: 'NIMBUS_POOL_KEY_FILE', value: `${POOL_KEY_DIR}/${POOL_KEY_ITEM}` },
                { name: 'NIMBUS_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
                { name: 'NIMBUS_POOL_TOKEN_FILE', value: POOL_TOKEN_FILE },
              ],
              resources: {},
              securityContext: containerSecurity(),
              volumeMounts: [{ name: 'pool-key', mountPath: POOL_KEY_DIR, readOnly: true }, tokenMount],
            },
          ],
          containers: [
            {
              name: POOL_RUNTIME_CONTAINER,
              image,
              ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
              env: [
                { name: 'HOST', value: '0.0.0.0' },
                { name: 'PORT', value: String(PORT) },
                { name: 'NIMBUS_POOL', value: '1' },
                // The path, not the token: the runtime takes the file at start.
                { name: 'NIMBUS_POOL_TOKEN_FILE', value: POOL_TOKEN_FILE },
                { name: 'NIMBUS_GATEWAY_URL', value: settings.gatewayUrl },
                { name: 'NIMBUS_SHUTDOWN_DELAY_MS', value: String(SHUTDOWN_DELAY_MS) },
              ],
              // Ready while generic: a pod that takes a function on is routable once relabelled.
              readinessProbe: readinessProbe('/_/health'),
              livenessProbe: LIVENESS_PROBE,
              resources: {},
              securityContext: containerSecurity(),
              volumeMounts: [tmpMount(), tokenMount],
            },
          ],
          volumes: [
            tmpVolume(),
            { name: 'pool-key', secret: { secretName: POOL_KEY_SECRET } },
            { name: 'pool-token', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
          ],
        },
      },
    },
  };
}

/** The body of a specialise call: a function's env and its code, by file name. */
export interface Specialisation {
  env: Record<string, string>;
  files: Record<string, string>;
}

/**
 * The platform's part of a specialisation, as it is now: the gateway's URL, the error detail, and
 * ctx.publish's token (sent to the pod over the specialise call, never stored in an object).
 */
export function platformSettings(fn: FunctionResource, settings: DeploymentSettings): Record<string, string> {
  const env: Record<string, string> = { NIMBUS_GATEWAY_URL: settings.gatewayUrl };
  if (settings.errorDetail !== undefined) env.NIMBUS_ERROR_DETAIL = settings.errorDetail;
  const tokens = settings.functionTokens;
  if (tokens !== undefined)
    Object.assign(env, {
      NIMBUS_EVENTS_URL: tokens.serviceUrl,
      NIMBUS_EVENTS_TOKEN: stateToken(tokens.key, fn.metadata.namespace, fn.metadata.name),
    });
  return env;
}

/** What a pool pod is sent to become one replica of `fn`: the same settings its own pods get, and its code. */
export function specialisation(fn: FunctionResource, settings: DeploymentSettings): Specialisation {
  const env: Record<string, string> = {};
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value;
  Object.assign(env, runtimeSettings(fn), platformSettings(fn, settings));
  return {
    env,
    files: { [inlineFileName(handlerOf(fn.spec), fn.spec.runtime)]: fn.spec.source?.inline ?? '' },
  };
}

/**
 * The merge patch that moves a specialised pool pod from the pool to the function: the pool's
 * label goes (its ReplicaSet lets the pod go and starts a replacement), the function's labels
 * come (its Service's EndpointSlice lists it), and the Function owns it (deleting the Function
 * deletes it). The pool's pod-template-hash stays, so the function's own ReplicaSet never adopts it.
 * For one version of a versioned Function, `version` adds VERSION_LABEL: the version's Service
 * selects the function and the version, so its slice lists the pod, and no other version's does.
 */
export function adoptionPatch(fn: FunctionResource, version?: string): unknown {
  if (fn.metadata.uid === undefined) throw new Error(`Function ${fn.metadata.name} has no uid`);
  return {
    metadata: {
      labels: {
        ...functionLabels(fn),
        ...(version === undefined ? {} : { [VERSION_LABEL]: version }),
        [POOL_LABEL]: null,
        [ADOPTED_LABEL]: 'true',
      },
      ownerReferences: [functionOwner(fn.metadata.name, fn.metadata.uid)],
    },
  };
}
