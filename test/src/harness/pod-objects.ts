import type { KubeObject, ObjectMeta, ResourceType } from '@nimbus/kube';

/** The parts of a `v1` Pod the pod runner reads: what the kubelet would need to run Nimbus's. */
export interface Pod extends KubeObject {
  /** Set with deletionTimestamp: the grace the deletion asked for. */
  metadata: ObjectMeta & { deletionGracePeriodSeconds?: number };
  spec: {
    nodeName?: string;
    terminationGracePeriodSeconds?: number;
    /** Run in order, each to completion, before the container starts. */
    initContainers?: PodContainer[];
    containers: PodContainer[];
    volumes?: PodVolume[];
  };
  status?: { phase?: string; conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
}

export interface PodContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: {
    httpGet?: { path?: string; port: string | number };
    tcpSocket?: { port: string | number };
    initialDelaySeconds?: number;
    periodSeconds?: number;
    timeoutSeconds?: number;
    successThreshold?: number;
    failureThreshold?: number;
  };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  /** Only the sleep action: the kubelet waits this long between deletion and SIGTERM. */
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
}

export interface PodVolume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[]; optional?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
  /** `medium: Memory` too, as a plain folder: the runner has no tmpfs of its own. */
  emptyDir?: Record<string, unknown>;
}

const core = (kind: string, plural: string, namespaced: boolean): ResourceType =>
  Object.freeze({ group: '', version: 'v1', kind, plural, namespaced });

/** The core resources the pod runner uses beyond those Nimbus itself touches. */
export const POD_RESOURCES = {
  pods: core('Pod', 'pods', true),
  nodes: core('Node', 'nodes', false),
  configMaps: core('ConfigMap', 'configmaps', true),
  secrets: core('Secret', 'secrets', true),
} as const;

/** RFC 3339 to the second, as the API server writes times. */
export const apiTime = (at: Date): string => at.toISOString().replace(/\.\d+Z$/, 'Z');
