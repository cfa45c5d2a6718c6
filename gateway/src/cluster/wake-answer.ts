import { BlockList, isIP } from 'node:net';

/** A replica a wake's answer names: a pool pod that has loaded the function. */
export interface NamedEndpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Addresses no pod has: the API server refuses them in an EndpointSlice too (unspecified,
 * loopback, link-local, multicast; ValidateEndpointIP), and IPv4-mapped IPv6, which a pod's
 * status never gives. Link-local covers the cloud metadata address, 169.254.169.254.
 */
const NOT_A_POD = new BlockList();
NOT_A_POD.addSubnet('0.0.0.0', 8, 'ipv4');
NOT_A_POD.addSubnet('127.0.0.0', 8, 'ipv4');
NOT_A_POD.addSubnet('169.254.0.0', 16, 'ipv4');
NOT_A_POD.addSubnet('224.0.0.0', 4, 'ipv4');
NOT_A_POD.addAddress('255.255.255.255', 'ipv4');
NOT_A_POD.addAddress('::', 'ipv6');
NOT_A_POD.addAddress('::1', 'ipv6');
NOT_A_POD.addSubnet('fe80::', 10, 'ipv6');
NOT_A_POD.addSubnet('ff00::', 8, 'ipv6');

/**
 * The endpoint a wake's answer names, checked strictly: the gateway sends callers' requests
 * there, so an answer from something that is not the controller, or a garbled one, must never
 * steer them elsewhere. `endpoint` must be exactly `{ host, port }`, host an IP literal a pod
 * could have (no name, no URL, no zone), port an integer 1..65535. Undefined when the answer names
 * none; `{ invalid }` says why one was refused. Pure.
 */
export function wakeEndpointOf(answer: unknown): NamedEndpoint | { invalid: string } | undefined {
  if (typeof answer !== 'object' || answer === null || !('endpoint' in answer)) return undefined;
  const endpoint: unknown = answer.endpoint;
  if (typeof endpoint !== 'object' || endpoint === null || Array.isArray(endpoint))
    return { invalid: 'endpoint is not an object' };
  const keys = Object.keys(endpoint).sort();
  if (keys.length !== 2 || keys[0] !== 'host' || keys[1] !== 'port')
    return { invalid: `endpoint has fields ${JSON.stringify(keys)}, not exactly host and port` };
  const { host, port } = endpoint as { host: unknown; port: unknown };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535)
    return { invalid: 'endpoint.port is not an integer in 1..65535' };
  if (typeof host !== 'string' || host.length > 45) return { invalid: 'endpoint.host is not an IP address' };
  const family = isIP(host);
  if (family === 0 || host.includes('%')) return { invalid: 'endpoint.host is not an IP address' };
  // IPv4-mapped IPv6 by its prefix: a BlockList subnet for it would match every IPv4 address.
  if (NOT_A_POD.check(host, family === 4 ? 'ipv4' : 'ipv6') || /^::ffff:/i.test(host))
    return { invalid: 'endpoint.host is not an address a pod can have' };
  return { host: family === 6 ? host.toLowerCase() : host, port };
}
