import { KIND_TEXT, classifyAddress, describeAddress } from './address-class.js';
import type { EgressConfig, EgressRule } from './egress-config.js';
import { type IpBytes, inCidr, parseIp } from './ip-address.js';

/** A Nimbus component a caller-steered request must not reach: Redis, NATS, a controller. */
export interface PlatformEndpoint {
  /** A host name (compared as a name) or an IP address (compared as an address). */
  readonly host: string;
  readonly port: number;
}

/** Where the platform listens, at the moment of one decision. */
export interface PlatformView {
  readonly endpoints: readonly PlatformEndpoint[];
  /** Ports the platform's processes listen on on this machine (loopback or every interface). */
  readonly localPorts: ReadonlySet<number>;
}

/** An outbound URL that passed the checks that need no DNS. */
export interface EgressTarget {
  readonly url: URL;
  /** Lower-case, without brackets or a trailing dot. */
  readonly hostname: string;
  readonly port: number;
  /** Set when the host is an IP address (WHATWG URL has already turned 0x7f000001 into 127.0.0.1). */
  readonly address: IpBytes | undefined;
}

const MAX_URL_LENGTH = 2048;

/** Why a URL cannot be a target; `malformed` when it is not an http(s) URL at all. */
export interface EgressUrlRefusal {
  readonly refused: string;
  readonly malformed: boolean;
}

const malformed = (refused: string): EgressUrlRefusal => ({ refused, malformed: true });

/** Never reachable, whatever NIMBUS_EGRESS_ALLOW says. */
const NEVER = new Set(['unspecified', 'multicast', 'broadcast']);

/**
 * The URL as an outbound target, or why it can never be one: not http(s), credentials in it (a
 * userinfo URL hides its real host from a reader, and would send the secret along), or not a URL.
 * Pure.
 */
export function parseEgressUrl(text: string): EgressTarget | EgressUrlRefusal {
  const notUrl = `the URL is not an http:// or https:// URL of at most ${MAX_URL_LENGTH} characters`;
  if (text.length > MAX_URL_LENGTH || /\s/.test(text)) return malformed(notUrl);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return malformed(notUrl);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return malformed(notUrl);
  const hostname = normaliseHost(url.hostname);
  if (hostname === '') return malformed(notUrl);
  if (url.username !== '' || url.password !== '')
    return {
      refused: 'the URL carries credentials (user:password@host); put a secret in its path or query instead',
      malformed: false,
    };
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (port === 0) return { refused: 'the URL names port 0', malformed: false };
  return { url, hostname, port, address: parseIp(hostname) };
}

/** Why a connection is refused: the address as text, its port, and the reason. */
export interface Refusal {
  /** The address, with the IPv4 address it stands for when it carries one. */
  readonly address: string;
  readonly port: number;
  /** What it is, as "a loopback address, which NIMBUS_EGRESS_ALLOW does not allow". */
  readonly reason: string;
  /** The reason without the component's host and port, for answers to callers who gave a name. */
  readonly general: string;
}

/** "127.0.0.1 port 6379 is a port Nimbus itself listens on". */
export function refusalText(refusal: Refusal): string {
  return `${refusal.address} port ${refusal.port} is ${refusal.reason}`;
}

/**
 * Why a connection to `address`:`port` (reached through the name `name`, when there was one)
 * is refused, or undefined when it may go ahead. In order: the platform's own endpoints are never
 * reached; nor the unspecified, multicast or broadcast addresses; public unicast addresses are;
 * anything else (loopback, private, link-local, unique local, CGNAT, reserved, and IPv6 forms
 * carrying such an IPv4 address) only when an allow rule names it. Pure.
 */
export function refusalOf(
  config: EgressConfig,
  platform: PlatformView,
  name: string | undefined,
  address: IpBytes,
  port: number,
): Refusal | undefined {
  const classified = classifyAddress(address);
  const refused = (reason: string, general = reason): Refusal => ({
    address: describeAddress(address, classified),
    port,
    general,
    reason,
  });
  const { kind, effective } = classified;
  const reachesThisHost =
    kind === 'loopback' || kind === 'unspecified' || (kind === 'reserved' && effective[0] === 0);
  if (reachesThisHost && platform.localPorts.has(port)) return refused('a port Nimbus itself listens on');
  const component = platform.endpoints.find((e) => e.port === port && sameHost(e.host, name, effective));
  if (component !== undefined)
    return refused(`a Nimbus component (${component.host}:${component.port})`, 'a Nimbus component');
  if (NEVER.has(kind)) return refused(KIND_TEXT[kind]);
  if (kind === 'public') return undefined;
  if (config.allow.some((rule) => allows(rule, name, address, effective, port))) return undefined;
  return refused(`${KIND_TEXT[kind]}, which NIMBUS_EGRESS_ALLOW does not allow`);
}

function allows(
  rule: EgressRule,
  name: string | undefined,
  address: IpBytes,
  effective: IpBytes,
  port: number,
): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  if (rule.kind === 'range') return inCidr(effective, rule.range) || inCidr(address, rule.range);
  if (name === undefined) return false;
  return rule.host.startsWith('*.') ? name.endsWith(rule.host.slice(1)) : name === rule.host;
}

function sameHost(host: string, name: string | undefined, effective: IpBytes): boolean {
  const bytes = parseIp(host);
  if (bytes === undefined) return name !== undefined && normaliseHost(host) === name;
  const theirs = classifyAddress(bytes).effective;
  return theirs.length === effective.length && theirs.every((b, i) => b === effective[i]);
}

/**
 * Names that only mean something inside a machine or a cluster: single labels (search domains
 * turn `redis` into a Service), `localhost`, and the `.local`, `.internal`, `.svc` and
 * `.cluster.local` suffixes. Pure.
 */
export function isInternalName(name: string): boolean {
  return !name.includes('.') || /(^|\.)(localhost|local|internal|svc|cluster\.local|home\.arpa)$/.test(name);
}

export function normaliseHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}
