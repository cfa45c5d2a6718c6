import { lookup } from 'node:dns/promises';
import type { buildConnector } from 'undici';
import type { EgressConfig } from './egress-config.js';
import {
  type EgressTarget,
  type PlatformView,
  type Refusal,
  isInternalName,
  parseEgressUrl,
  refusalOf,
  refusalText,
} from './egress-policy.js';
import { type IpBytes, parseIp } from './ip-address.js';

/** Every address a name resolves to. A seam: tests answer as a rebinding DNS server would. */
export type ResolveHost = (hostname: string) => Promise<readonly { readonly address: string }[]>;

export const systemResolver: ResolveHost = (hostname) => lookup(hostname, { all: true, verbatim: true });

/** A request the egress policy stopped before it connected; never worth retrying. */
export class EgressRefusedError extends Error {
  readonly code = 'EGRESS_REFUSED';

  constructor(message: string) {
    super(message);
    this.name = 'EgressRefusedError';
  }
}

export interface EgressGuardDeps {
  readonly config: EgressConfig;
  /** Where the platform listens now; asked on every decision, so replicas that come and go count. */
  readonly platform: () => PlatformView;
  readonly resolve?: ResolveHost;
  /** How long the check at enqueue waits for DNS before leaving the decision to connect time. */
  readonly lookupTimeoutMs?: number;
}

/**
 * The egress policy (egress-policy.ts) with the I/O it needs: DNS, and the platform's endpoints
 * at this moment. Caller-steered requests are checked twice: when the call is accepted
 * (`refusal`, so a URL that can never be delivered gets a 400, not a 202) and when the connection
 * is made (`connector`), against the very address connected to, so a name that resolves to a
 * public address at the first check and to a private one at the second (DNS rebinding) is refused.
 */
export class EgressGuard {
  private readonly resolve: ResolveHost;

  constructor(private readonly deps: EgressGuardDeps) {
    this.resolve = deps.resolve ?? systemResolver;
  }

  /** Why `text` can never be a callback, or undefined. A name that does not resolve yet is left to connect time. */
  async refusal(text: string): Promise<string | undefined> {
    const target = parseEgressUrl(text);
    if ('refused' in target) return target.refused;
    if (target.address !== undefined) {
      const refused = this.refusalOf(undefined, target.address, target.port);
      return refused === undefined ? undefined : refusalText(refused);
    }
    let addresses: readonly IpBytes[];
    try {
      addresses = await this.resolveWithin(target.hostname, this.deps.lookupTimeoutMs ?? 2000);
    } catch (err) {
      // A public name may just be missing for a moment; a cluster or machine-internal one that
      // does not resolve here never will.
      if (isInternalName(target.hostname))
        return `${target.hostname} does not resolve here (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      return undefined;
    }
    return this.refusalOfAll(target, addresses);
  }

  /**
   * The address to connect to for `hostname`:`port`: the first one the policy allows, from one
   * lookup that is then used for the connection itself. Throws EgressRefusedError when none is.
   */
  async pick(hostname: string, port: number): Promise<string> {
    const literal = parseIp(hostname);
    const name = literal === undefined ? hostname.toLowerCase().replace(/\.$/, '') : undefined;
    if (literal !== undefined) {
      const refused = this.refusalOf(undefined, literal, port);
      if (refused !== undefined) throw new EgressRefusedError(`refused to connect: ${refusalText(refused)}`);
      return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    }
    const found = await this.resolve(name as string);
    let first: Refusal | undefined;
    for (const { address } of found) {
      const bytes = parseIp(address);
      if (bytes === undefined) continue;
      const refused = this.refusalOf(name, bytes, port);
      if (refused === undefined) return address;
      first ??= refused;
    }
    // The log may name the address; only the operator reads it.
    throw new EgressRefusedError(
      `refused to connect: ${name}: ${first === undefined ? 'no address' : refusalText(first)}`,
    );
  }

  /**
   * An undici connector that connects only where `pick` allows, to the address it picked (so no
   * second lookup can answer differently); TLS still checks the certificate against the name.
   */
  connector(base: buildConnector.connector): buildConnector.connector {
    return (options, callback) => {
      const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
      this.pick(options.hostname, port).then(
        (address) => base({ ...options, hostname: address }, callback),
        (err: Error) => callback(err, null),
      );
    };
  }

  /**
   * The caller reads this one, so it says what kind of address the name leads to but not which:
   * the gateway must not become a way to map the cluster's internal DNS.
   */
  private refusalOfAll(target: EgressTarget, addresses: readonly IpBytes[]): string | undefined {
    let first: Refusal | undefined;
    for (const address of addresses) {
      const refused = this.refusalOf(target.hostname, address, target.port);
      if (refused === undefined) return undefined;
      first ??= refused;
    }
    return `${target.hostname} port ${target.port} resolves to ${first?.general ?? 'no address'}`;
  }

  private refusalOf(name: string | undefined, address: IpBytes, port: number): Refusal | undefined {
    return refusalOf(this.deps.config, this.deps.platform(), name, address, port);
  }

  private async resolveWithin(hostname: string, ms: number): Promise<IpBytes[]> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no DNS answer within ${ms} ms`)), ms);
      timer.unref();
    });
    try {
      const found = await Promise.race([this.resolve(hostname), late]);
      return found.map((a) => parseIp(a.address)).filter((b): b is IpBytes => b !== undefined);
    } finally {
      clearTimeout(timer);
    }
  }
}
