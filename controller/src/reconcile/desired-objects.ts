import type { FunctionResource } from '@nimbus/api';
import { specHash } from '@nimbus/api';
import { type DeploymentSettings, buildDeployment } from '../resources/deployment.js';
import { SPEC_HASH_ANNOTATION } from '../resources/metadata.js';
import { buildFunctionNetworkPolicy } from '../resources/network-policy.js';
import type { ConfigMap, Deployment, NetworkPolicy, Service } from '../resources/objects.js';
import { buildService } from '../resources/service.js';
import { SourceTooLargeError, buildSourceConfigMap } from '../resources/source-configmap.js';
import type { StateBinding } from '../resources/state-binding.js';

/** A spec the cluster cannot run as written; reported on the Function, never retried as is. */
export class NotDeployableError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'NotDeployableError';
  }
}

export interface DesiredObjects {
  /** Absent when the code comes from an image. */
  configMap: ConfigMap | undefined;
  deployment: Deployment;
  service: Service;
  /** Absent when the platform makes no NetworkPolicies (no `functionIngress` setting). */
  networkPolicy: NetworkPolicy | undefined;
}

/**
 * Everything the cluster should hold for a Function running `replicas` (the autoscaler's
 * decision), its pods bound to their Redis user when `state` says how, mounting the Secrets in
 * `mountedSecrets` (those of spec.secrets that opted in) and no other. Pure. The spec hash is
 * taken over the built pod template itself, so pods roll exactly when what they run would change
 * (the Function's spec, the platform's settings, the state credentials) and never otherwise; a
 * change of replicas rolls nothing.
 */
export function desiredObjects(
  fn: FunctionResource,
  settings: DeploymentSettings,
  replicas: number,
  state?: StateBinding,
  mountedSecrets: readonly string[] = [],
): DesiredObjects {
  if (fn.spec.source?.path !== undefined) {
    throw new NotDeployableError(
      'SourcePathNotSupported',
      fn.spec.runtime === 'container'
        ? 'spec.source.path names a folder on the machine running local mode; in a cluster a container function runs spec.image'
        : 'spec.source.path names a folder on the machine running local mode; in a cluster use spec.source.inline or spec.image',
    );
  }
  if (fn.spec.runtime === 'python3.11' && settings.pythonRuntimeImage === undefined) {
    // Refused by name rather than run on Node.
    throw new NotDeployableError(
      'RuntimeNotInstalled',
      'spec.runtime: python3.11 needs the runtime-python image, and this cluster has none: the operator sets the chart value runtime.python.image.repository (NIMBUS_PYTHON_RUNTIME_IMAGE of the controller)',
    );
  }
  let configMap: ConfigMap | undefined;
  try {
    configMap = buildSourceConfigMap(fn);
  } catch (err) {
    if (err instanceof SourceTooLargeError) throw new NotDeployableError('SourceTooLarge', err.message);
    throw err;
  }
  const draft = buildDeployment(fn, settings, replicas, '', state, mountedSecrets);
  const hash = specHash(draft.spec.template, configMap?.data);
  const deployment: Deployment = {
    ...draft,
    metadata: { ...draft.metadata, annotations: { [SPEC_HASH_ANNOTATION]: hash } },
    spec: {
      ...draft.spec,
      template: {
        ...draft.spec.template,
        metadata: {
          ...draft.spec.template.metadata,
          annotations: { ...draft.spec.template.metadata.annotations, [SPEC_HASH_ANNOTATION]: hash },
        },
      },
    },
  };
  const networkPolicy =
    settings.functionIngress === undefined
      ? undefined
      : buildFunctionNetworkPolicy(fn, settings.functionIngress);
  return { configMap, deployment, service: buildService(fn), networkPolicy };
}
