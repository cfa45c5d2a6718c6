import type { FunctionResource } from '@nimbus/api';
import {
  FUNCTION_LABEL,
  POOL_LABEL,
  type PoolRuntime,
  ownedMetadata,
  poolDeploymentName,
} from './metadata.js';
import type { NetworkPolicy, NetworkPolicyPeer } from './objects.js';
import { RUNTIME_PORT } from './runtime-pod.js';
import { containerPort } from './runtime-settings.js';

/**
 * Who may open connections to function pods: the platform's own pods, found by their labels in
 * the namespace the platform runs in. From the controller's settings (the chart fills them in).
 */
export interface FunctionIngress {
  /** The namespace the gateway and the controller run in. */
  platformNamespace: string;
  /** Labels that select the gateway's pods there. */
  gatewayPods: Readonly<Record<string, string>>;
  /** Labels that select the controller's pods there. */
  controllerPods: Readonly<Record<string, string>>;
}

/** Set on every namespace by the API server since Kubernetes 1.21, so a policy can name one. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function platformPeer(ingress: FunctionIngress, pods: Readonly<Record<string, string>>): NetworkPolicyPeer {
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: ingress.platformNamespace } },
    podSelector: { matchLabels: { ...pods } },
  };
}

/**
 * A Function's NetworkPolicy: its pods (its own, and pool pods it adopted, which carry its label)
 * take connections on the runtime's port (a container function's own) from the gateway and the controller only. `http.auth:
 * key` is checked at the gateway and the runtime's `/_/` routes trust their network, so nothing
 * else may reach the pods: not other functions, not other tenants' pods. The controller is in
 * the list for what it reads from replicas (`/_/ready` of a pod it specialised). Pure.
 */
export function buildFunctionNetworkPolicy(fn: FunctionResource, ingress: FunctionIngress): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMetadata(fn, fn.metadata.name),
    spec: {
      podSelector: { matchLabels: { [FUNCTION_LABEL]: fn.metadata.name } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [platformPeer(ingress, ingress.gatewayPods), platformPeer(ingress, ingress.controllerPods)],
          ports: [
            { protocol: 'TCP', port: fn.spec.runtime === 'container' ? containerPort(fn) : RUNTIME_PORT },
          ],
        },
      ],
    },
  };
}

/**
 * The NetworkPolicy of one runtime's warm pool in one namespace: a generic pool pod is reached by
 * the controller alone, which specialises it. Once a function adopts the pod it loses the pool label and gains the
 * function's, so the function's policy takes over and the gateway may call it. It belongs to no
 * Function: the pool reconciler keeps it beside the pool Deployment and removes both together. Pure.
 */
export function buildPoolNetworkPolicy(
  namespace: string,
  ingress: FunctionIngress,
  runtime: PoolRuntime,
): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: poolDeploymentName(runtime),
      namespace,
      labels: {
        'app.kubernetes.io/name': poolDeploymentName(runtime),
        'app.kubernetes.io/managed-by': 'nimbus',
      },
      ownerReferences: [],
    },
    spec: {
      podSelector: { matchLabels: { [POOL_LABEL]: runtime } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [platformPeer(ingress, ingress.controllerPods)],
          ports: [{ protocol: 'TCP', port: RUNTIME_PORT }],
        },
      ],
    },
  };
}
