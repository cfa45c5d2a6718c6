import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, type JWTPayload, SignJWT, exportJWK, generateKeyPair } from 'jose';

/** A signing key of the test identity provider: its kid, its private half, its public JWK. */
export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Makes a key pair for `alg` (RS256, ES256, EdDSA, ...) under `kid`. */
export async function makeKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/**
 * An identity provider as far as a gateway sees one: a JWKS document on a loopback HTTP server
 * the test starts, whose keys the test changes (rotation), and which counts the fetches it gets.
 * Tokens are signed with jose, as a real provider would sign them.
 */
export class TestIdentityProvider {
  /** GET requests for the key set so far. */
  fetches = 0;
  /** When set, the key set answers with this status instead. */
  failWith: number | undefined;
  /** `http://127.0.0.1:<port>`, the tokens' iss. */
  issuer = '';
  private readonly server: Server;

  private constructor(private published: TestKey[]) {
    this.server = createServer((req, res) => {
      if (req.url !== '/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      this.fetches++;
      if (this.failWith !== undefined) {
        res.writeHead(this.failWith).end();
        return;
      }
      const body = JSON.stringify({ keys: this.published.map((k) => k.publicJwk) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  }

  static async start(keys: TestKey[]): Promise<TestIdentityProvider> {
    const idp = new TestIdentityProvider(keys);
    await new Promise<void>((resolve) => idp.server.listen(0, '127.0.0.1', resolve));
    idp.issuer = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}`;
    return idp;
  }

  get jwksUrl(): string {
    return `${this.issuer}/jwks.json`;
  }

  /** Replaces the published keys (a rotation: add the new one, later drop the old). */
  publish(keys: TestKey[]): void {
    this.published = keys;
  }

  /**
   * A token signed by `key`: issued by this provider for `audience`, valid from `nowS` - 10 s
   * for an hour, unless `claims` says otherwise (exp, nbf, iss, aud, ...).
   */
  async sign(key: TestKey, claims: JWTPayload, nowS: number, audience = 'orders'): Promise<string> {
    return new SignJWT({
      iss: this.issuer,
      aud: audience,
      sub: 'ada',
      iat: nowS - 10,
      nbf: nowS - 10,
      exp: nowS + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** base64url of text, for tokens built by hand (alg none, a tampered payload). */
export const b64url = (text: string | Buffer): string => Buffer.from(text).toString('base64url');
