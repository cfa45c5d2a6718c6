import { GROUP, KIND, PLURAL, VERSION } from '@nimbus/api';

/** What the REST paths of one kind of object are built from. */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The minimum every Kubernetes object has. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  creationTimestamp?: string;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

const type = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced = true,
): ResourceType => Object.freeze({ group, version, kind, plural, namespaced });

export const RESOURCES = {
  functions: type(GROUP, VERSION, KIND, PLURAL),
  deployments: type('apps', 'v1', 'Deployment', 'deployments'),
  services: type('', 'v1', 'Service', 'services'),
  configMaps: type('', 'v1', 'ConfigMap', 'configmaps'),
  secrets: type('', 'v1', 'Secret', 'secrets'),
  events: type('', 'v1', 'Event', 'events'),
  namespaces: type('', 'v1', 'Namespace', 'namespaces', false),
  endpointSlices: type('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices'),
  pods: type('', 'v1', 'Pod', 'pods'),
  leases: type('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  networkPolicies: type('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies'),
} as const;

export function apiVersionOf(resource: ResourceType): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

/**
 * The REST path of a collection (no name) or of one object. `namespace` undefined on a namespaced
 * resource means every namespace, which only reading supports.
 */
export function resourcePath(
  resource: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base =
    resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const scope =
    resource.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  let path = `${base}${scope}/${resource.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}

/** `namespace/name`, the key work queues and caches use. */
export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : (name ?? '');
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash === -1
    ? { namespace: '', name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
