/**
 * The shapes of the Kubernetes objects the builders return: only the fields Nimbus sets.
 * Plain objects, applied with server-side apply, so what is not here is not owned.
 */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences: OwnerReference[];
}

export interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: ObjectMeta;
  data: Record<string, string>;
  /** Set on a version's source: its code never changes, and the API server then keeps it so. */
  immutable?: boolean;
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: {
    type: 'ClusterIP';
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string; protocol: 'TCP' }[];
  };
}

/** Opaque, data base64-encoded as the API returns it. */
export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type: 'Opaque';
  data: Record<string, string>;
}

export interface EnvVar {
  name: string;
  value: string;
}

/** A value the kubelet fills in from the pod itself (the downward API). */
export interface FieldEnvVar {
  name: string;
  valueFrom: { fieldRef: { fieldPath: string } };
}

/** Runs to completion before the pod's containers start; probes and ports do not apply. */
export interface InitContainer {
  name: string;
  image: string;
  args: string[];
  env: (EnvVar | FieldEnvVar)[];
  resources: Container['resources'];
  securityContext: Container['securityContext'];
  volumeMounts: Container['volumeMounts'];
}

export interface Volume {
  name: string;
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: { medium?: 'Memory'; sizeLimit?: string };
}

export interface Container {
  name: string;
  image: string;
  /** A container function's own program, in place of the image's entrypoint. */
  command?: string[];
  ports: { name: string; containerPort: number; protocol: 'TCP' }[];
  env: EnvVar[];
  readinessProbe: Probe;
  /** The runtime's own health route; a container function has none it must serve. */
  livenessProbe?: Probe;
  /** A container function's drain window: the kubelet waits this long before SIGTERM. */
  lifecycle?: { preStop: { sleep: { seconds: number } } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: {
    allowPrivilegeEscalation: false;
    readOnlyRootFilesystem: true;
    runAsNonRoot: true;
    capabilities: { drop: ['ALL'] };
  };
  volumeMounts: { name: string; mountPath: string; readOnly: boolean }[];
}

export type Probe = ({ httpGet: { path: string; port: string } } | { tcpSocket: { port: string } }) & {
  periodSeconds: number;
  failureThreshold: number;
  timeoutSeconds?: number;
};

export interface Deployment {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        automountServiceAccountToken: false;
        enableServiceLinks: false;
        terminationGracePeriodSeconds: number;
        securityContext: {
          runAsNonRoot: true;
          runAsUser: number;
          seccompProfile: { type: 'RuntimeDefault' };
        };
        initContainers?: InitContainer[];
        containers: Container[];
        volumes: Volume[];
      };
    };
  };
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
}

export interface NetworkPolicyPeer {
  namespaceSelector: LabelSelector;
  podSelector: LabelSelector;
}

/** Ingress only: what function pods call out to is the function author's business. */
export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes: ['Ingress'];
    ingress: { from: NetworkPolicyPeer[]; ports: { protocol: 'TCP'; port: number }[] }[];
  };
}
