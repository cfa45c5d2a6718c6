import type { FunctionResource } from '@nimbus/api';
import { VERSION_LABEL, versionObjectName } from '@nimbus/api/versions';
import type { KubeObject } from '@nimbus/kube';
import type { DeploymentSettings } from '../resources/deployment.js';
import { FUNCTION_LABEL, POOL_RUNTIMES, type PoolRuntime } from '../resources/metadata.js';
import { type Specialisation, platformSettings } from '../resources/pool.js';
import { runtimeImageOf } from '../resources/runtime-image.js';
import { versionSourceName } from '../versions/versioned-objects.js';

/**
 * A version's Deployment as read from the cache or the API server: only the parts a pool pod's
 * specialisation is derived from, each optional (the object is whatever the cluster holds).
 */
export interface VersionDeploymentView extends KubeObject {
  spec?: {
    template?: {
      spec?: {
        containers?: {
          name: string;
          image?: string;
          env?: { name: string; value?: string; valueFrom?: unknown }[];
          volumeMounts?: { name: string }[];
        }[];
        volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
      };
    };
  };
}

/** Where a version's code is: its source ConfigMap, the key in it and the file the handler loads. */
export interface VersionSource {
  readonly configMap: string;
  readonly key: string;
  readonly file: string;
}

/** What a pool pod must be sent to become one replica of a version, but for its code and tokens. */
export interface VersionPlan {
  readonly runtime: PoolRuntime;
  readonly env: Record<string, string>;
  readonly source: VersionSource;
}

/**
 * Env a function pod's template sets that a pool pod has of its own (buildDeployment adds them,
 * specialisation never sends them): the pool pod's port, host, drain delay and its own code
 * directory, where the specialise call writes the files.
 */
const POD_OWN = new Set(['HOST', 'PORT', 'NIMBUS_FUNCTION_DIR', 'NIMBUS_SHUTDOWN_DELAY_MS']);
/**
 * ctx.publish's settings as a pod mounts them (stateEnv): the token as a file of the mounted
 * state-credentials Secret. A pool pod gets them at the call instead (platformSettings).
 */
const PUBLISH = new Set(['NIMBUS_EVENTS_URL', 'NIMBUS_EVENTS_TOKEN_FILE']);
/** The volume of ctx.publish's (and ctx.state's) token: mounted by every function's pods when the platform has one. */
const CREDENTIALS = 'state-credentials';
/** The volumes a poolable version's pods mount: /tmp, the code, and ctx.publish's token. */
const POOLABLE_VOLUMES = new Set(['tmp', 'source', CREDENTIALS]);

/**
 * How a pool pod becomes one replica of `version` of `fn`, derived from the version's Deployment
 * (`deployment`, as the cluster holds it), or a sentence saying why it cannot.
 *
 * Derived from the pod template rather than recorded apart (an annotation at creation): the
 * template is what the version's own pods run, made once and never changed after (only the
 * replicas are), so the pool pod and the Deployment's pods cannot disagree, and a version made
 * before this existed is poolable too. The template holds the function's env (spec.env and
 * runtimeSettings as they were for that version) and no token: a poolable version mounts
 * nothing, and the ctx.publish token is never in an object; it is made again at the specialise
 * call (specialisation), with the platform's other settings, as for a plain Function.
 *
 * Refused: a Deployment that is not the version's (name, labels, owner), a version whose pods
 * run an image that is not a pool runtime's (a custom image, or a runtime without a pool), one
 * that takes any env from elsewhere (a Secret, the downward API) or mounts anything but its code
 * (secrets, state), and one without inline code. Pure.
 */
export function versionPlan(
  fn: FunctionResource,
  version: string,
  deployment: VersionDeploymentView,
  settings: DeploymentSettings,
): VersionPlan | string {
  const { name, uid } = fn.metadata;
  const labels = deployment.metadata.labels ?? {};
  if (
    deployment.metadata.name !== versionObjectName(name, version) ||
    labels[FUNCTION_LABEL] !== name ||
    labels[VERSION_LABEL] !== version ||
    !(deployment.metadata.ownerReferences ?? []).some((o) => o.uid === uid)
  )
    return `Deployment ${deployment.metadata.name} is not version ${version}'s of Function ${name}`;
  const pod = deployment.spec?.template?.spec;
  const container = pod?.containers?.find((c) => c.name === 'function');
  if (container === undefined) return 'its pod template has no function container';
  const runtime = POOL_RUNTIMES.find((r) => runtimeImageOf(r, settings) === container.image);
  if (runtime === undefined) return `its image ${container.image} is no pool runtime's`;
  const mounted = new Set((container.volumeMounts ?? []).map((m) => m.name));
  const volumes = (pod?.volumes ?? []).filter((v) => mounted.has(v.name));
  const extra = volumes.find((v) => !POOLABLE_VOLUMES.has(v.name));
  if (extra !== undefined) return `it mounts volume ${extra.name}: a running pool pod cannot gain one`;
  // The token alone serves ctx.publish, sent at the call; ctx.state also needs the pod to be the
  // state service's (spec.state on, for that version).
  if ((container.env ?? []).some((e) => e.name.startsWith('NIMBUS_STATE_')))
    return 'it has state: its token cannot be sent to a pool pod';
  const item = volumes.find((v) => v.name === 'source')?.configMap;
  const [entry, ...others] = item?.items ?? [];
  if (item === undefined || entry === undefined || others.length > 0)
    return 'its code is not one inline file in a ConfigMap';
  if (item.name !== versionSourceName(name, version))
    return `its code is in ConfigMap ${item.name}, not the version's own`;
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value === undefined) return `env ${variable.name} comes from elsewhere, not a value`;
    if (!POD_OWN.has(variable.name) && !PUBLISH.has(variable.name)) env[variable.name] = variable.value;
  }
  return { runtime, env, source: { configMap: item.name, key: entry.key, file: entry.path } };
}

/**
 * The specialise body for a version: the version's env with the platform's settings as they are
 * now (gateway URL, error detail, the ctx.publish token, which the Function's name and namespace
 * make, whatever the version), and the code read from the version's immutable ConfigMap. Pure.
 */
export function versionSpecialisation(
  fn: FunctionResource,
  plan: VersionPlan,
  code: string,
  settings: DeploymentSettings,
): Specialisation {
  const env = { ...plan.env };
  // Set again below when the platform has them now; a detail switched off since is switched off here too.
  delete env.NIMBUS_ERROR_DETAIL;
  return { env: { ...env, ...platformSettings(fn, settings) }, files: { [plan.source.file]: code } };
}
