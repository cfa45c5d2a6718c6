import { lookup } from 'node:dns/promises';
import type { PlatformEndpoint } from '../egress/egress-policy.js';

/** A resolver of host names to every address behind them (a headless Service's pod IPs). */
export type LookupAll = (host: string) => Promise<string[]>;

const lookupAll: LookupAll = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** One configured controller location: a fixed base URL, or `dns+http(s)://host:port`, one URL per address. */
export type PeerEntry =
  | { readonly kind: 'static'; readonly url: string }
  | {
      readonly kind: 'dns';
      readonly protocol: 'http:' | 'https:';
      readonly host: string;
      readonly port: string;
    };

/** Parses one entry of NIMBUS_CONTROLLER_URLS; undefined when it is not one of the two forms. Pure. */
export function parsePeerEntry(raw: string): PeerEntry | undefined {
  const match = /^(dns\+)?(https?):\/\/([^/:\s]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?\/*$/.exec(raw.trim());
  if (match === null) return undefined;
  const [, dns, scheme = 'http', host = '', port] = match;
  if (dns === undefined) return { kind: 'static', url: raw.trim().replace(/\/+$/, '') };
  return { kind: 'dns', protocol: `${scheme}:` as 'http:' | 'https:', host, port: port ?? '' };
}

/** The controllers' hosts and ports, which no callback may reach (egress/egress-policy.ts). Pure. */
export function controllerEndpoints(entries: readonly PeerEntry[]): PlatformEndpoint[] {
  return entries.flatMap((entry) => {
    if (entry.kind === 'dns') {
      const port = entry.port === '' ? (entry.protocol === 'https:' ? 443 : 80) : Number(entry.port);
      return [{ host: entry.host.replace(/^\[|\]$/g, '').toLowerCase(), port }];
    }
    const url = new URL(entry.url);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return [{ host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port }];
  });
}

const baseUrl = (entry: PeerEntry & { kind: 'dns' }, address: string) => {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${entry.protocol}//${host}${entry.port === '' ? '' : `:${entry.port}`}`;
};

/**
 * The controller replicas a gateway talks to. A `dns+` entry names a headless Service and is
 * looked up again at most every `refreshMs`, so every controller pod (leader and standbys) gets
 * reports and wakes as pods come and go; a failed lookup keeps the addresses known before.
 */
export class ControllerPeers {
  private readonly resolved = new Map<string, { urls: string[]; at: number }>();

  constructor(
    private readonly entries: readonly PeerEntry[],
    private readonly refreshMs = 5000,
    private readonly resolve: LookupAll = lookupAll,
    private readonly now: () => number = Date.now,
  ) {}

  get configured(): boolean {
    return this.entries.length > 0;
  }

  async urls(): Promise<string[]> {
    const lists = await Promise.all(
      this.entries.map((entry) => (entry.kind === 'static' ? [entry.url] : this.lookup(entry))),
    );
    return [...new Set(lists.flat())];
  }

  private async lookup(entry: PeerEntry & { kind: 'dns' }): Promise<string[]> {
    const known = this.resolved.get(entry.host);
    if (known !== undefined && this.now() - known.at < this.refreshMs) return known.urls;
    try {
      const urls = (await this.resolve(entry.host)).map((address) => baseUrl(entry, address)).sort();
      this.resolved.set(entry.host, { urls, at: this.now() });
      return urls;
    } catch {
      return known?.urls ?? [];
    }
  }
}
