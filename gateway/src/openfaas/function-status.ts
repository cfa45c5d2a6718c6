import type { FunctionResource } from '@nimbus/api';
import type { FunctionResources, FunctionStatus } from './openfaas-types.js';

/** The variable OpenFaaS's watchdogs read the program to run from: envProcess. */
export const FPROCESS = 'fprocess';

/**
 * A Function as OpenFaaS describes a function (faas-cli list, describe). Pure. `invocations` is
 * this gateway's count of calls to it. An image-less function shows what runs it instead.
 */
export function functionStatus(fn: FunctionResource, invocations: number): FunctionStatus {
  const { metadata, spec, status } = fn;
  const env = spec.env ?? [];
  const fprocess = env.find((e) => e.name === FPROCESS)?.value;
  const envVars = Object.fromEntries(env.filter((e) => e.name !== FPROCESS).map((e) => [e.name, e.value]));
  return {
    name: metadata.name,
    image: spec.image ?? imageless(fn),
    namespace: metadata.namespace,
    ...(fprocess === undefined ? {} : { envProcess: fprocess }),
    ...(Object.keys(envVars).length === 0 ? {} : { envVars }),
    ...((spec.secrets ?? []).length === 0 ? {} : { secrets: [...(spec.secrets ?? [])] }),
    labels: { ...(metadata.labels ?? {}) },
    annotations: { ...(metadata.annotations ?? {}) },
    ...resources('limits', spec.resources?.limits),
    ...resources('requests', spec.resources?.requests),
    // Every Nimbus function pod's root filesystem is read-only.
    readOnlyRootFilesystem: true,
    invocationCount: invocations,
    replicas: wholeCount(status?.replicas),
    availableReplicas: wholeCount(status?.readyReplicas),
    ...(isRfc3339(metadata.creationTimestamp) ? { createdAt: metadata.creationTimestamp } : {}),
  };
}

function imageless(fn: FunctionResource): string {
  const { spec } = fn;
  if (spec.command !== undefined) return `(command: ${spec.command.join(' ')})`;
  return `(${spec.runtime}, ${spec.source?.inline !== undefined ? 'inline source' : 'source.path'})`;
}

function resources(key: 'limits' | 'requests', list: FunctionResources | undefined) {
  if (list === undefined || (list.cpu === undefined && list.memory === undefined)) return {};
  return {
    [key]: {
      ...(list.cpu === undefined ? {} : { cpu: list.cpu }),
      ...(list.memory === undefined ? {} : { memory: list.memory }),
    },
  };
}

/** faas-cli reads replicas as uint64: anything but a whole number ≥ 0 fails its whole list. */
function wholeCount(value: number | undefined): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 0;
}

/** faas-cli fails its whole list on a createdAt that is not RFC 3339 (an empty string included). */
function isRfc3339(value: string | undefined): value is string {
  return (
    value !== undefined && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)
  );
}
