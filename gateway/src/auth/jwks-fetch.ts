import type { JSONWebKeySet } from 'jose';
import { Agent, buildConnector, request } from 'undici';
import { classifyAddress } from '../egress/address-class.js';
import type { EgressGuard } from '../egress/egress-guard.js';
import { EgressRefusedError } from '../egress/egress-guard.js';
import { parseIp } from '../egress/ip-address.js';

/** Limits on one JWKS fetch. */
export interface JwksFetchLimits {
  /** The whole fetch, connect to last byte. */
  readonly timeoutMs: number;
  /** A key set is a few KiB; anything far larger is not one. */
  readonly maxBytes: number;
  /** Keys kept from one set; the rest are ignored. */
  readonly maxKeys: number;
}

export const DEFAULT_JWKS_FETCH_LIMITS: JwksFetchLimits = {
  timeoutMs: 5000,
  maxBytes: 64 * 1024,
  maxKeys: 64,
};

/**
 * A JWKS that could not be had: the identity provider is down, slow, refused by egress, or sent
 * no key set. The message, which may name an address, is for the operator's log; `summary` is
 * what a caller may read.
 */
export class JwksUnavailableError extends Error {
  readonly summary: string;

  constructor(message: string, options?: ErrorOptions & { egress?: boolean }) {
    super(message, options);
    this.name = 'JwksUnavailableError';
    this.summary = options?.egress
      ? "the gateway's egress policy does not let it fetch the identity provider's keys (JWKS)"
      : "the identity provider's keys (JWKS) could not be fetched";
  }
}

/** Where key sets come from; tests of the cache count or fail fetches here. */
export type FetchJwks = (url: string) => Promise<JSONWebKeySet>;

/**
 * Fetches key sets as the gateway fetches callbacks: through the egress policy, checked on the
 * very address connected to (so a Function cannot point jwksUrl at cloud metadata, a private
 * address NIMBUS_EGRESS_ALLOW does not name, or Redis, NATS or the gateway itself), with no
 * redirects followed. Plain http:// only reaches an address that is not public, which means one
 * the operator allowed (local mode allows loopback): over the internet a key set must come over
 * TLS, or whoever sits on the path could hand the gateway keys of their own.
 */
export class JwksFetcher {
  private readonly agent: Agent;

  constructor(
    egress: Pick<EgressGuard, 'pick'>,
    private readonly limits: JwksFetchLimits = DEFAULT_JWKS_FETCH_LIMITS,
  ) {
    const base = buildConnector({ timeout: limits.timeoutMs });
    this.agent = new Agent({
      connections: 4,
      headersTimeout: limits.timeoutMs,
      bodyTimeout: limits.timeoutMs,
      connect: (options, callback) => {
        const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
        egress.pick(options.hostname, port).then(
          (address) => {
            const bytes = parseIp(address);
            if (
              options.protocol === 'http:' &&
              bytes !== undefined &&
              classifyAddress(bytes).kind === 'public'
            ) {
              callback(
                new EgressRefusedError(
                  'refused to fetch a JWKS over plain http from a public address: use https',
                ),
                null,
              );
              return;
            }
            base({ ...options, hostname: address }, callback);
          },
          (err: Error) => callback(err, null),
        );
      },
    });
  }

  readonly fetch: FetchJwks = async (url) => {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        dispatcher: this.agent,
        method: 'GET',
        headers: { accept: 'application/json, application/jwk-set+json' },
        signal: AbortSignal.timeout(this.limits.timeoutMs),
      });
    } catch (err) {
      throw new JwksUnavailableError(`the JWKS could not be fetched: ${reasonOf(err)}`, {
        cause: err,
        egress: isEgressRefusal(err),
      });
    }
    const { statusCode, headers, body } = response;
    if (statusCode !== 200) {
      await body.dump();
      throw new JwksUnavailableError(`the JWKS URL answered ${statusCode}, not 200`);
    }
    if (Number(headers['content-length'] ?? 0) > this.limits.maxBytes) {
      await body.dump();
      throw new JwksUnavailableError(`the JWKS is larger than ${this.limits.maxBytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > this.limits.maxBytes) {
          body.destroy();
          throw new JwksUnavailableError(`the JWKS is larger than ${this.limits.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof JwksUnavailableError) throw err;
      throw new JwksUnavailableError(`the JWKS could not be read: ${reasonOf(err)}`, { cause: err });
    }
    return publicSigningKeys(Buffer.concat(chunks).toString('utf8'), this.limits.maxKeys);
  };

  async close(): Promise<void> {
    await this.agent.close();
  }
}

const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * The asymmetric public keys of a JWKS document, at most `maxKeys`: symmetric (oct) keys, keys
 * with private parts and encryption-only keys are left out, so nothing in a published set can
 * turn into a shared secret. Throws JwksUnavailableError when the text is not a key set. Pure.
 */
export function publicSigningKeys(text: string, maxKeys: number): JSONWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new JwksUnavailableError('the JWKS URL did not answer with JSON');
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys))
    throw new JwksUnavailableError('the JWKS URL did not answer with a key set ({"keys": [...]})');
  const kept = keys.filter(
    (k): k is JSONWebKeySet['keys'][number] =>
      typeof k === 'object' &&
      k !== null &&
      ['RSA', 'EC', 'OKP'].includes((k as { kty?: unknown }).kty as string) &&
      (k as { use?: unknown }).use !== 'enc' &&
      PRIVATE_PARTS.every((part) => !(part in k)),
  );
  return { keys: kept.slice(0, maxKeys) };
}

function isEgressRefusal(err: unknown): boolean {
  return (
    err instanceof EgressRefusedError || (err as { cause?: unknown }).cause instanceof EgressRefusedError
  );
}

function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  const cause = (err as { cause?: { message?: string } }).cause;
  return cause?.message ?? e.message ?? String(err);
}
