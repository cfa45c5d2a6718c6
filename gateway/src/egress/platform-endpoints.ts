import type { GatewayConfig } from '../config.js';
import type { LocalListeners } from '../ports.js';
import { classifyAddress } from './address-class.js';
import type { PlatformEndpoint, PlatformView } from './egress-policy.js';
import { parseIp } from './ip-address.js';

/** Redis and NATS as the gateway's settings name them: components no callback may reach. Pure. */
export function configuredEndpoints(config: Pick<GatewayConfig, 'store' | 'async'>): PlatformEndpoint[] {
  const out: PlatformEndpoint[] = [];
  const redis = endpointOf(config.store.redisUrl, 'redis:', 6379);
  if (redis !== undefined) out.push(redis);
  for (const server of (config.async.natsUrl ?? '').split(',')) {
    const nats = endpointOf(server.trim(), 'nats:', 4222);
    if (nats !== undefined) out.push(nats);
  }
  return out;
}

function endpointOf(
  raw: string | undefined,
  scheme: string,
  defaultPort: number,
): PlatformEndpoint | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const url = new URL(raw.includes('://') ? raw : `${scheme}//${raw}`);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { host: host.toLowerCase(), port: url.port === '' ? defaultPort : Number(url.port) };
  } catch {
    return undefined;
  }
}

/** Whether a component at `host` listens on this machine, so its port is refused on every local address. */
function isLocal(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const bytes = parseIp(host);
  if (bytes === undefined) return false;
  const { kind } = classifyAddress(bytes);
  return kind === 'loopback' || kind === 'unspecified';
}

/**
 * The platform as the egress policy sees it, built afresh on each call: the configured
 * components, the gateway's own listening ports, and what the host says its processes listen
 * on (local mode's replicas and warm pool, which come and go).
 */
export function platformView(
  endpoints: readonly PlatformEndpoint[],
  ownPorts: ReadonlySet<number>,
  listeners: LocalListeners | undefined,
): () => PlatformView {
  const fixed = endpoints.filter((e) => isLocal(e.host)).map((e) => e.port);
  return () => ({
    endpoints,
    localPorts: new Set([...fixed, ...ownPorts, ...(listeners?.ports() ?? [])]),
  });
}
