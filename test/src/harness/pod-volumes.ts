import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { type KubeClient, type KubeObject, isNotFound } from '@nimbus/kube';
import { POD_RESOURCES, type Pod, type PodContainer, type PodVolume } from './pod-objects.js';

interface DataObject extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/**
 * Writes the container's volumes into folders under `root/volumes/<volume>`, as the kubelet mounts them: a
 * ConfigMap's or Secret's keys as files (only the listed items, at their paths, when the volume
 * lists items), an emptyDir as an empty folder. Returns each mount path with the folder that
 * stands in for it. A process cannot see these at the pod's paths, so `containerEnv` rewrites
 * settings that point into a mount; a path written into the function's code is not rewritten.
 */
export async function materializeVolumes(
  client: KubeClient,
  pod: Pod,
  container: PodContainer,
  root: string,
): Promise<Map<string, string>> {
  const namespace = pod.metadata.namespace;
  const mounts = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    if (mount.subPath !== undefined) throw new Error(`volume mount ${mount.name}: subPath is not supported`);
    const volume = pod.spec.volumes?.find((v) => v.name === mount.name);
    if (volume === undefined) throw new Error(`volume mount ${mount.name} names no volume of the pod`);
    const dir = join(root, 'volumes', volume.name);
    await mkdir(dir, { recursive: true });
    await fillVolume(client, namespace, volume, dir);
    mounts.set(mount.mountPath.replace(/\/+$/, ''), dir);
  }
  return mounts;
}

/**
 * Once the init containers are done: removes the folders of volumes the pod's container does not
 * mount (a Secret only an init container reads), which the kubelet would never show it.
 */
export async function dropUnmounted(pod: Pod, container: PodContainer, root: string): Promise<void> {
  const mounted = new Set((container.volumeMounts ?? []).map((m) => m.name));
  for (const volume of pod.spec.volumes ?? []) {
    if (!mounted.has(volume.name))
      await rm(join(root, 'volumes', volume.name), { recursive: true, force: true });
  }
}

async function fillVolume(
  client: KubeClient,
  namespace: string | undefined,
  volume: PodVolume,
  dir: string,
): Promise<void> {
  if (volume.emptyDir !== undefined) return;
  const source = volume.configMap
    ? { ...volume.configMap, resource: POD_RESOURCES.configMaps, binary: false }
    : volume.secret
      ? { ...volume.secret, name: volume.secret.secretName, resource: POD_RESOURCES.secrets, binary: true }
      : undefined;
  if (source === undefined) throw new Error(`volume ${volume.name}: only configMap, secret and emptyDir`);
  let object: DataObject;
  try {
    object = await client.get<DataObject>(source.resource, namespace, source.name);
  } catch (err) {
    // The kubelet waits for a missing non-optional source; the runner's retry does the same.
    if (isNotFound(err) && source.optional) return;
    throw err;
  }
  // Secret data and ConfigMap binaryData are base64; ConfigMap data is text.
  const files = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(object.data ?? {}))
    files.set(key, Buffer.from(value, source.binary ? 'base64' : 'utf8'));
  for (const [key, value] of Object.entries(object.binaryData ?? {}))
    files.set(key, Buffer.from(value, 'base64'));
  const items = source.items ?? [...files.keys()].map((key) => ({ key, path: key }));
  for (const { key, path } of items) {
    const content = files.get(key);
    if (content === undefined) throw new Error(`volume ${volume.name}: ${source.name} has no key ${key}`);
    const target = resolve(dir, path);
    if (relative(dir, target).startsWith('..'))
      throw new Error(`volume ${volume.name}: item path ${path} leaves the volume`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}

/** The pod's own fields the downward API hands to `env[].valueFrom.fieldRef`, by field path. */
export type PodFields = Readonly<Record<string, string>>;

/** metadata.name, metadata.namespace, metadata.uid and status.podIP: what Nimbus's pods ask for. */
export function podFields(pod: Pod, podIP: string): PodFields {
  return {
    'metadata.name': pod.metadata.name ?? '',
    'metadata.namespace': pod.metadata.namespace ?? '',
    'metadata.uid': pod.metadata.uid ?? '',
    'status.podIP': podIP,
  };
}

/**
 * A container's `env` for a local process: its values, with paths inside a mount moved to the
 * folder standing in for it, and `valueFrom.fieldRef` filled from `fields` (the downward API;
 * other sources of `valueFrom` are refused).
 */
export function envValues(
  container: PodContainer,
  mounts: ReadonlyMap<string, string>,
  fields: PodFields,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.valueFrom === undefined) {
      env[variable.name] = localPath(variable.value ?? '', mounts);
      continue;
    }
    const path = (variable.valueFrom as { fieldRef?: { fieldPath?: string } }).fieldRef?.fieldPath;
    const value = path === undefined ? undefined : fields[path];
    if (value === undefined)
      throw new Error(`env ${variable.name}: only valueFrom.fieldRef of ${Object.keys(fields).join(', ')}`);
    env[variable.name] = value;
  }
  return env;
}

/**
 * The container's environment for a local process (see envValues), with `HOST`/`PORT`
 * (runtime-node's listen settings) set to the pod's own address and its container port: the pod
 * spec says 0.0.0.0, which on a shared machine would have every pod fight over one port.
 */
export function containerEnv(
  container: PodContainer,
  mounts: ReadonlyMap<string, string>,
  podIP: string,
  port: number,
  fields: PodFields = {},
): Record<string, string> {
  return { ...envValues(container, mounts, fields), HOST: podIP, PORT: String(port) };
}

function localPath(value: string, mounts: ReadonlyMap<string, string>): string {
  for (const [mountPath, dir] of mounts) {
    if (value === mountPath) return dir;
    if (value.startsWith(`${mountPath}/`)) return join(dir, value.slice(mountPath.length + 1));
  }
  return value;
}
