import { type ErrorDetail, type FunctionResource, parseDuration } from '@nimbus/api';
import { handlerOf, inlineFileName } from '@nimbus/api';
import { FUNCTION_LABEL, SPEC_HASH_ANNOTATION, functionLabels, ownedMetadata } from './metadata.js';
import type { FunctionIngress } from './network-policy.js';
import type { Container, Deployment, EnvVar, Volume } from './objects.js';
import { type RuntimeImages, runtimeImageOf } from './runtime-image.js';
import {
  LIVENESS_PROBE,
  RUNTIME_PORT as PORT,
  SHUTDOWN_DELAY_MS,
  containerReadinessProbe,
  containerSecurity,
  podSecurityContext,
  readinessProbe,
  tmpMount,
  tmpVolume,
} from './runtime-pod.js';
import { containerPort, containerSettings, runtimeSettings } from './runtime-settings.js';
import { sourceConfigMapName } from './source-configmap.js';
import {
  STATE_CREDENTIALS_ANNOTATION,
  type StateBinding,
  stateEnv,
  stateMount,
  stateVolume,
} from './state-binding.js';

export interface DeploymentSettings extends RuntimeImages {
  /** Where ctx.invoke reaches other functions: the gateway's Service. */
  gatewayUrl: string;
  /** The pod's UID; images built FROM the runtime run as this non-root user. */
  runAsUser: number;
  /**
   * NIMBUS_ERROR_DETAIL for every replica (the operator's choice, `full` or `none`); unset, the
   * runtime's own default: callers see an invocation id, not the handler's error text.
   */
  errorDetail?: ErrorDetail;
  /**
   * Who may reach function and pool pods; each Function then gets a NetworkPolicy. Unset: no
   * policies are made (and those made before are removed).
   */
  functionIngress?: FunctionIngress;
  /**
   * The gateway's internal port and the platform's key, for a pool pod taken over by a function:
   * it cannot mount the function's token Secret, so the token (made with the key) comes with its
   * settings, for ctx.publish. Unset: no state service configured.
   */
  functionTokens?: { serviceUrl: string; key: string };
}

const FUNCTION_DIR = '/var/nimbus/function';
const SECRETS_DIR = '/var/nimbus/secrets';

/**
 * A Function's Deployment. Pure: no clock, no API calls. `specHash` goes into the pod template,
 * so pods roll exactly when something that shapes them changed, and never otherwise. `state`,
 * for a function with state, points its pods at their Redis user. `mountedSecrets`: the entries of
 * spec.secrets that opted in (secrets/secret-opt-in.ts); any other is never mounted.
 */
export function buildDeployment(
  fn: FunctionResource,
  settings: DeploymentSettings,
  replicas: number,
  specHash: string,
  state?: StateBinding,
  mountedSecrets: readonly string[] = [],
): Deployment {
  const { spec, metadata } = fn;
  const timeoutSeconds = Math.ceil(parseDuration(spec.timeout) / 1000);
  const inline = spec.source?.inline !== undefined;
  const volumes: Volume[] = [tmpVolume()];
  const mounts = [tmpMount()];
  if (inline) {
    const file = inlineFileName(handlerOf(spec), spec.runtime);
    volumes.push({
      name: 'source',
      configMap: { name: sourceConfigMapName(fn), items: [{ key: file.replaceAll('/', '__'), path: file }] },
    });
    mounts.push({ name: 'source', mountPath: FUNCTION_DIR, readOnly: true });
  }
  for (const [i, secret] of (spec.secrets ?? []).entries()) {
    // Named by its place in spec.secrets, so refusing one renames no other volume.
    if (!mountedSecrets.includes(secret)) continue;
    volumes.push({ name: `secret-${i}`, secret: { secretName: secret } });
    mounts.push({ name: `secret-${i}`, mountPath: `${SECRETS_DIR}/${secret}`, readOnly: true });
  }
  if (state !== undefined) {
    volumes.push(stateVolume(state));
    mounts.push(stateMount());
  }
  const container = spec.runtime === 'container';
  const image = spec.image ?? runtimeImageOf(spec.runtime, settings);
  // desiredObjects refuses such a Function first, with a reason on its status.
  if (image === undefined) throw new Error(`this cluster has no image for spec.runtime ${spec.runtime}`);
  const port = container ? containerPort(fn) : PORT;
  const platform: EnvVar[] = Object.entries(
    container
      ? {
          ...containerSettings(fn),
          PORT: String(port),
          NIMBUS_GATEWAY_URL: settings.gatewayUrl,
        }
      : {
          ...runtimeSettings(fn),
          HOST: '0.0.0.0',
          PORT: String(port),
          NIMBUS_FUNCTION_DIR: FUNCTION_DIR,
          NIMBUS_GATEWAY_URL: settings.gatewayUrl,
          NIMBUS_SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS),
          ...(settings.errorDetail === undefined ? {} : { NIMBUS_ERROR_DETAIL: settings.errorDetail }),
        },
  ).map(([name, value]) => ({ name, value }));
  if (state !== undefined) platform.push(...stateEnv(state));
  // The platform's settings win a name the function also sets. Each name appears once: env is a
  // list keyed by name, and server-side apply refuses a key given twice.
  const reserved = new Set(platform.map((e) => e.name));
  const env: EnvVar[] = [...(spec.env ?? []).filter((e) => !reserved.has(e.name)), ...platform];
  const resources = {
    ...(spec.resources?.requests === undefined ? {} : { requests: { ...spec.resources.requests } }),
    ...(spec.resources?.limits === undefined ? {} : { limits: { ...spec.resources.limits } }),
  };
  const shared = {
    name: 'function',
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' as const }],
    env,
    resources,
    securityContext: containerSecurity(),
    volumeMounts: mounts,
  };
  const functionContainer: Container = container
    ? {
        ...shared,
        image,
        ...(spec.command === undefined ? {} : { command: [...spec.command] }),
        readinessProbe: containerReadinessProbe(spec.readiness),
        // Someone else's server drains on SIGTERM, if at all: the kubelet holds SIGTERM back while
        // every gateway sees the pod leave the EndpointSlice, so no call is sent to a closed port.
        lifecycle: { preStop: { sleep: { seconds: SHUTDOWN_DELAY_MS / 1000 } } },
      }
    : {
        ...shared,
        image,
        readinessProbe: readinessProbe('/_/ready'),
        livenessProbe: LIVENESS_PROBE,
      };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(fn, metadata.name),
    spec: {
      replicas,
      selector: { matchLabels: { [FUNCTION_LABEL]: metadata.name } },
      template: {
        metadata: {
          labels: functionLabels(fn),
          annotations: {
            [SPEC_HASH_ANNOTATION]: specHash,
            ...(state === undefined ? {} : { [STATE_CREDENTIALS_ANNOTATION]: state.credentialsRevision }),
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // Room to drain in-flight calls up to the function's timeout after SIGTERM.
          terminationGracePeriodSeconds: timeoutSeconds + SHUTDOWN_DELAY_MS / 1000 + 5,
          securityContext: podSecurityContext(settings.runAsUser),
          containers: [functionContainer],
          volumes,
        },
      },
    },
  };
}
