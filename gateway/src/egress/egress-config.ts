import { ConfigError, type Env } from '@nimbus/api';
import { type Cidr, cidr, parseCidr } from './ip-address.js';

/** One entry of NIMBUS_EGRESS_ALLOW: addresses or a host name the operator lets callbacks reach. */
export type EgressRule =
  | { readonly kind: 'range'; readonly text: string; readonly range: Cidr; readonly port?: number }
  /** `host` is lower-case; `*.example.com` matches every name below example.com. */
  | { readonly kind: 'host'; readonly text: string; readonly host: string; readonly port?: number };

/** Where caller-steered requests (callbacks) may go besides public addresses. */
export interface EgressConfig {
  readonly allow: readonly EgressRule[];
}

/** Words an entry may use instead of ranges. */
const KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const HOST = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * NIMBUS_EGRESS_ALLOW: comma-separated entries, each a host name (`hooks.team.svc`, or
 * `*.team.svc` for the names below it), an IP address or CIDR (`10.1.0.0/16`, `fd00::/8`), or
 * `loopback` / `private`; any of them may end in `:port` to allow that port only (IPv6 in
 * brackets: `[::1]:9000`, `[fd00::/8]:443`). Unset: `fallback` (nothing in a cluster, `loopback`
 * in local mode). The platform's own endpoints stay refused whatever it says.
 */
export function readEgressConfig(env: Env, fallback = ''): EgressConfig {
  const raw = env.NIMBUS_EGRESS_ALLOW ?? fallback;
  const allow: EgressRule[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (entry === '') continue;
    const rules = parseEntry(entry.toLowerCase());
    if (rules === undefined)
      throw new ConfigError(
        'NIMBUS_EGRESS_ALLOW',
        `"${entry}" is not a host name, an IP address or CIDR, loopback or private (each optionally with :port)`,
      );
    allow.push(...rules);
  }
  return Object.freeze({ allow: Object.freeze(allow) });
}

function parseEntry(entry: string): EgressRule[] | undefined {
  const split = splitPort(entry);
  if (split === undefined) return undefined;
  const { target, port } = split;
  const withPort = port === undefined ? {} : { port };
  const keyword = KEYWORDS[target];
  if (keyword !== undefined)
    return keyword.map((text) => ({ kind: 'range', text: entry, range: cidr(text), ...withPort }));
  const range = parseCidr(target);
  if (range !== undefined) return [{ kind: 'range', text: entry, range, ...withPort }];
  const host = target.replace(/\.$/, '');
  if (host.length <= 253 && HOST.test(host) && !/^[\d.]+$/.test(host))
    return [{ kind: 'host', text: entry, host, ...withPort }];
  return undefined;
}

/** `target[:port]`, IPv6 in brackets when a port follows; undefined for a bad port. */
function splitPort(entry: string): { target: string; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed !== null) return withPort(bracketed[1] as string, bracketed[2]);
  const colons = entry.split(':').length - 1;
  // Bare IPv6 (two colons or more) has no port.
  if (colons !== 1) return { target: entry };
  const at = entry.lastIndexOf(':');
  return withPort(entry.slice(0, at), entry.slice(at + 1));
}

function withPort(target: string, port: string | undefined): { target: string; port?: number } | undefined {
  if (port === undefined) return { target };
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  return { target, port: Number(port) };
}
