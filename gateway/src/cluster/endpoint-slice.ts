import { VERSION_LABEL, versionObjectName, versionRouteName } from '@nimbus/api';
import { VERSION_NAME } from '@nimbus/api/traffic';
import type { KubeObject } from '@nimbus/kube';
import type { EndpointAddress } from '../routing/route-table.js';

/** The parts of a `discovery.k8s.io/v1` EndpointSlice the gateway reads. */
export interface EndpointSlice extends KubeObject {
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: SliceEndpoint[] | null;
  ports?: SlicePort[] | null;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } | null;
}

export interface SlicePort {
  name?: string | null;
  port?: number | null;
  protocol?: string | null;
}

/** Set by the EndpointSlice controller on every slice: the Service it was made for. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Copied from the function's Service, so the gateway watches Nimbus's slices and no others. */
export const NIMBUS_SLICES = 'app.kubernetes.io/managed-by=nimbus';
/** The Service's port the replicas serve on (controller/src/resources/service.ts). */
export const HTTP_PORT = 'http';

/** Copied from the function's Service: the Function it serves. */
export const FUNCTION_LABEL = 'nimbus.dev/function';

/**
 * The route a slice feeds: an unversioned Function's Service is named like the Function (route
 * `fn`); a version's Service `fn-vN`, labelled with the Function and the version, feeds the
 * version's route `fn@vN`. A slice with a version label that does not match its Service's name is
 * nobody's.
 */
export function functionOfSlice(slice: EndpointSlice): { namespace: string; name: string } | undefined {
  const labels = slice.metadata.labels;
  const name = labels?.[SERVICE_NAME_LABEL];
  const namespace = slice.metadata.namespace;
  if (name === undefined || name === '' || namespace === undefined) return undefined;
  const version = labels?.[VERSION_LABEL];
  if (version === undefined) return { namespace, name };
  const fn = labels?.[FUNCTION_LABEL];
  if (fn === undefined || !VERSION_NAME.test(version) || versionObjectName(fn, version) !== name)
    return undefined;
  return { namespace, name: versionRouteName(fn, version) };
}

/**
 * Whether an endpoint may take new requests. A missing `ready` means ready (the EndpointSlice API
 * says so); a terminating endpoint takes none, even one still `serving` its in-flight work.
 */
export function isReady(endpoint: SliceEndpoint): boolean {
  const conditions = endpoint.conditions ?? {};
  return conditions.ready !== false && conditions.terminating !== true;
}

/** One id per address and port, so the same replica listed by two slices counts once. */
export function endpointId(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A function's ready replicas: the union over all its slices of the ready endpoints, each at the
 * slice's `http` port. A slice without that port contributes nothing. Pure; slices are read in
 * name order so the result does not depend on the order events arrived in.
 */
export function readyEndpoints(slices: readonly EndpointSlice[]): EndpointAddress[] {
  return endpointsWhere(slices, isReady);
}

/**
 * Whether an endpoint is a replica still starting: listed with ready false (so not yet past its
 * kubelet's readiness probe) and not terminating. The gateway probes these itself.
 */
export function isStarting(endpoint: SliceEndpoint): boolean {
  const conditions = endpoint.conditions ?? {};
  return conditions.ready === false && conditions.terminating !== true;
}

/** A function's replicas still starting (isStarting), but none another slice lists ready. Pure. */
export function startingEndpoints(slices: readonly EndpointSlice[]): EndpointAddress[] {
  const ready = new Set(readyEndpoints(slices).map((e) => e.id));
  return endpointsWhere(slices, isStarting).filter((e) => !ready.has(e.id));
}

function endpointsWhere(
  slices: readonly EndpointSlice[],
  which: (endpoint: SliceEndpoint) => boolean,
): EndpointAddress[] {
  const out = new Map<string, EndpointAddress>();
  const ordered = [...slices].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const slice of ordered) {
    const port = slice.ports?.find((p) => p.name === HTTP_PORT)?.port;
    if (typeof port !== 'number') continue;
    for (const endpoint of slice.endpoints ?? []) {
      const host = endpoint.addresses?.[0];
      if (host === undefined || !which(endpoint)) continue;
      const id = endpointId(host, port);
      if (!out.has(id)) out.set(id, { id, host, port });
    }
  }
  return [...out.values()];
}
