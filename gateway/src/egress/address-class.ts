import { type Cidr, type IpBytes, cidr, formatIp, inCidr } from './ip-address.js';

/** What an address reaches, as far as egress is concerned. Only `public` is allowed by default. */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unique-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** How a refusal names each kind. */
export const KIND_TEXT: Readonly<Record<AddressKind, string>> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  shared: 'a carrier-grade NAT (100.64.0.0/10) address',
  'link-local': 'a link-local address (where cloud metadata services live)',
  'unique-local': 'an IPv6 unique local (fc00::/7) address',
  unspecified: 'the unspecified address (it reaches this host)',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved or special-purpose address',
};

/** An address's kind, and the IPv4 address it stands for when it is IPv6 carrying one. */
export interface Classified {
  readonly kind: AddressKind;
  /** The address rules are matched against: the embedded IPv4 address of ::ffff:a.b.c.d and the like. */
  readonly effective: IpBytes;
  /** How the IPv4 address was carried, when it was. */
  readonly embeddedBy?: string;
}

// First match wins, so narrower ranges come before the ranges that hold them.
const IPV4: readonly [Cidr, AddressKind][] = [
  [cidr('0.0.0.0/32'), 'unspecified'],
  [cidr('255.255.255.255/32'), 'broadcast'],
  [cidr('0.0.0.0/8'), 'reserved'], // "this network": 0.x.y.z reaches this host on Linux
  [cidr('10.0.0.0/8'), 'private'],
  [cidr('100.64.0.0/10'), 'shared'],
  [cidr('127.0.0.0/8'), 'loopback'],
  [cidr('169.254.0.0/16'), 'link-local'],
  [cidr('172.16.0.0/12'), 'private'],
  [cidr('192.0.0.0/24'), 'reserved'], // IETF protocol assignments (DS-Lite, NAT64 discovery)
  [cidr('192.0.2.0/24'), 'reserved'], // documentation
  [cidr('192.88.99.0/24'), 'reserved'], // 6to4 relay anycast
  [cidr('192.168.0.0/16'), 'private'],
  [cidr('198.18.0.0/15'), 'reserved'], // benchmarking
  [cidr('198.51.100.0/24'), 'reserved'], // documentation
  [cidr('203.0.113.0/24'), 'reserved'], // documentation
  [cidr('224.0.0.0/4'), 'multicast'],
  [cidr('240.0.0.0/4'), 'reserved'],
];

/** IPv6 forms that carry an IPv4 address, and where it sits in them. */
const EMBEDDING: readonly [Cidr, number, string][] = [
  [cidr('::ffff:0:0/96'), 12, 'IPv4-mapped IPv6'],
  [cidr('64:ff9b::/96'), 12, 'the NAT64 prefix'],
  [cidr('2002::/16'), 2, '6to4'],
];

const IPV6: readonly [Cidr, AddressKind][] = [
  [cidr('::/128'), 'unspecified'],
  [cidr('::1/128'), 'loopback'],
  [cidr('fe80::/10'), 'link-local'],
  [cidr('fec0::/10'), 'private'], // the old site-local range
  [cidr('fc00::/7'), 'unique-local'],
  [cidr('ff00::/8'), 'multicast'],
  [cidr('64:ff9b:1::/48'), 'reserved'], // local-use NAT64
  [cidr('100::/64'), 'reserved'], // discard-only
  [cidr('2001::/23'), 'reserved'], // IETF protocol assignments: Teredo, ORCHID, benchmarking
  [cidr('2001:db8::/32'), 'reserved'], // documentation
];

/** Global unicast: the only IPv6 space handed out for the Internet. */
const IPV6_GLOBAL = cidr('2000::/3');
/** The deprecated IPv4-compatible form ::a.b.c.d. */
const IPV4_COMPATIBLE = cidr('::/96');

/** Which kind of address `bytes` is (from parseIp). Pure. */
export function classifyAddress(bytes: IpBytes): Classified {
  if (bytes.length === 4) return { kind: classifyIpv4(bytes), effective: bytes };
  for (const [range, at, by] of EMBEDDING) {
    if (inCidr(bytes, range)) {
      const ipv4 = bytes.slice(at, at + 4);
      return { kind: classifyIpv4(ipv4), effective: ipv4, embeddedBy: by };
    }
  }
  for (const [range, kind] of IPV6) if (inCidr(bytes, range)) return { kind, effective: bytes };
  if (inCidr(bytes, IPV4_COMPATIBLE)) {
    const ipv4 = bytes.slice(12, 16);
    return { kind: classifyIpv4(ipv4), effective: ipv4, embeddedBy: 'IPv4-compatible IPv6' };
  }
  return { kind: inCidr(bytes, IPV6_GLOBAL) ? 'public' : 'reserved', effective: bytes };
}

function classifyIpv4(bytes: IpBytes): AddressKind {
  for (const [range, kind] of IPV4) if (inCidr(bytes, range)) return kind;
  return 'public';
}

/** "127.0.0.1 (IPv4-mapped IPv6 ::ffff:7f00:1)"-style text naming what an address stands for. */
export function describeAddress(original: IpBytes, classified: Classified): string {
  if (classified.embeddedBy === undefined) return formatIp(original);
  return `${formatIp(classified.effective)} (in ${classified.embeddedBy} ${formatIp(original)})`;
}
