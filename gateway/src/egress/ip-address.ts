import { isIPv4, isIPv6 } from 'node:net';

/** An IP address as its bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** A range of addresses: the first `prefix` bits of `bytes`. */
export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefix: number;
}

/**
 * The bytes of an IP address in its standard text form (what WHATWG URL and DNS hand back),
 * a zone (`fe80::1%eth0`) ignored; undefined for anything else. Pure.
 */
export function parseIp(text: string): IpBytes | undefined {
  const address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const unzoned = address.split('%', 1)[0] as string;
  if (isIPv4(unzoned)) return Uint8Array.from(unzoned.split('.').map(Number));
  if (!isIPv6(unzoned)) return undefined;
  return parseIpv6(unzoned);
}

function parseIpv6(text: string): IpBytes {
  const bytes = new Uint8Array(16);
  let groups = text;
  // A dotted IPv4 tail (::ffff:127.0.0.1) fills the last four bytes.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tailBytes = 0;
  if (dotted !== null) {
    bytes.set(dotted[1]?.split('.').map(Number) ?? [], 12);
    groups = text.slice(0, -(dotted[1] as string).length);
    if (groups.endsWith(':') && !groups.endsWith('::')) groups = groups.slice(0, -1);
    tailBytes = 4;
  }
  const [head = '', tail] = groups.split('::');
  const words = (part: string) => (part === '' ? [] : part.split(':').map((w) => Number.parseInt(w, 16)));
  const front = words(head);
  const back = tail === undefined ? [] : words(tail);
  const end = 16 - tailBytes;
  front.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  back.forEach((word, i) => {
    const at = end - 2 * (back.length - i);
    bytes[at] = word >> 8;
    bytes[at + 1] = word & 0xff;
  });
  return bytes;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (/32, /128); undefined when it is neither. Pure. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', length, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const bytes = parseIp(address);
  if (bytes === undefined || address.includes('%')) return undefined;
  const max = bytes.length * 8;
  if (length === undefined) return { bytes, prefix: max };
  if (!/^\d{1,3}$/.test(length) || Number(length) > max) return undefined;
  return { bytes, prefix: Number(length) };
}

/** Whether `address` lies in `range`; an IPv4 range never holds an IPv6 address, nor the reverse. */
export function inCidr(address: IpBytes, range: Cidr): boolean {
  if (address.length !== range.bytes.length) return false;
  const whole = Math.floor(range.prefix / 8);
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.prefix % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((address[whole] as number) & mask) === ((range.bytes[whole] as number) & mask);
}

/** An address as text again: dotted IPv4, or IPv6 in groups (not compressed; for messages and comparison). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2)
    words.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return words.join(':');
}

/** Named ranges, parsed once. */
export function cidr(text: string): Cidr {
  const range = parseCidr(text);
  if (range === undefined) throw new Error(`not a CIDR: ${text}`);
  return range;
}
