import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import type { HttpJwt } from '@nimbus/api';
import { ManualClock } from '@nimbus/testkit';
import { TestIdentityProvider, type TestKey, b64url, makeKey } from '@nimbus/testkit/identity-provider';
import { SignJWT } from 'jose';
import { DEFAULT_JWKS_CACHE_POLICY, JwksCache } from '../src/auth/jwks-cache.js';
import { JwksFetcher, JwksUnavailableError, publicSigningKeys } from '../src/auth/jwks-fetch.js';
import { JwtVerifier, type VerifiedToken } from '../src/auth/jwt-verifier.js';
import { readEgressConfig } from '../src/egress/egress-config.js';
import { EgressGuard, type ResolveHost } from '../src/egress/egress-guard.js';
import { Problem } from '../src/http/problems.js';

const COOLDOWN_MS = DEFAULT_JWKS_CACHE_POLICY.cooldownMs;
const MAX_AGE_MS = DEFAULT_JWKS_CACHE_POLICY.maxAgeMs;

/** An egress guard as local mode has one: loopback allowed, the ports in `platformPorts` not. */
const egressGuard = (platformPorts: number[] = [], resolve?: ResolveHost) =>
  new EgressGuard({
    config: readEgressConfig({ NIMBUS_EGRESS_ALLOW: 'loopback' }),
    platform: () => ({ endpoints: [], localPorts: new Set(platformPorts) }),
    ...(resolve === undefined ? {} : { resolve }),
  });

describe('JwtVerifier against an identity provider on loopback', function () {
  this.timeout(20_000);
  let idp: TestIdentityProvider;
  let current: TestKey;
  let next: TestKey;
  let stranger: TestKey;
  let ec: TestKey;
  let clock: ManualClock;
  let fetcher: JwksFetcher;
  let verifier: JwtVerifier;
  let settings: HttpJwt;

  const nowS = () => Math.floor(clock.now() / 1000);
  const bearer = (token: string) => `Bearer ${token}`;
  const sign = (claims: Record<string, unknown> = {}, key = current, audience = 'orders') =>
    idp.sign(key, claims, nowS(), audience);
  const verify = async (authorization: string | undefined, extra?: Parameters<JwtVerifier['verify']>[2]) =>
    verifier.verify(authorization, settings, extra);
  /** The reason a refusal names, with its status: `401 expired`. */
  const refusal = async (authorization: string | undefined, extra?: Parameters<JwtVerifier['verify']>[2]) => {
    const outcome = await verify(authorization, extra);
    assert.ok(outcome instanceof Problem, 'refused');
    return `${outcome.status} ${outcome.details?.reason}`;
  };
  const accepted = async (authorization: string) => {
    const outcome = await verify(authorization);
    assert.ok(!(outcome instanceof Problem), `accepted, not ${(outcome as Problem).message}`);
    return outcome as VerifiedToken;
  };

  before(async () => {
    [current, next, stranger, ec] = await Promise.all([
      makeKey('k1'),
      makeKey('k2'),
      makeKey('k1'),
      makeKey('e1', 'ES256'),
    ]);
  });

  beforeEach(async () => {
    idp = await TestIdentityProvider.start([current, ec]);
    clock = new ManualClock(Date.now());
    fetcher = new JwksFetcher(egressGuard());
    verifier = new JwtVerifier(new JwksCache(fetcher.fetch, clock), clock);
    settings = {
      issuer: idp.issuer,
      audiences: ['orders', 'billing'],
      jwksUrl: idp.jwksUrl,
      clockSkew: '30s',
    };
  });

  afterEach(async () => {
    await fetcher.close();
    await idp.close();
  });

  it('accepts a token of the provider and hands over its claims, as compact JSON', async () => {
    const verified = await accepted(bearer(await sign({ scope: 'orders:read', name: 'Ad\u00e5' })));
    assert.equal(verified.claims.sub, 'ada');
    assert.deepEqual(JSON.parse(verified.claimsHeader), verified.claims);
    assert.match(verified.claimsHeader, /^[\x20-\x7e]+$/, 'a header value in ASCII');
    await accepted(bearer(await sign({}, ec, 'billing')));
    assert.equal(idp.fetches, 1, 'one fetch for both tokens');
  });

  it('refuses a missing, malformed or non-bearer token with 401 and its reason', async () => {
    assert.equal(await refusal(undefined), '401 missing_token');
    assert.equal(await refusal('Bearer not-a-jwt'), '401 malformed');
    assert.equal(await refusal(`Basic ${b64url('ada:secret')}`), '401 malformed');
    const missing = (await verify(undefined)) as Problem;
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="nimbus"');
    const bad = (await verify('Bearer x.y.z')) as Problem;
    assert.match(
      bad.headers['www-authenticate'] ?? '',
      /^Bearer realm="nimbus", error="invalid_token", error_description="/,
    );
    assert.equal(idp.fetches, 0, 'nothing fetched for a token that does not parse');
  });

  it('refuses expired and not-yet-valid tokens beyond clockSkew, and accepts them within it', async () => {
    assert.equal(await refusal(bearer(await sign({ exp: nowS() - 31 }))), '401 expired');
    await accepted(bearer(await sign({ exp: nowS() - 20 })));
    assert.equal(await refusal(bearer(await sign({ nbf: nowS() + 60 }))), '401 not_yet_valid');
    await accepted(bearer(await sign({ nbf: nowS() + 20 })));
    // A token that never expires is refused too.
    assert.equal(await refusal(bearer(await sign({ exp: undefined }))), '401 malformed');
  });

  it('refuses a wrong issuer and a wrong audience', async () => {
    assert.equal(await refusal(bearer(await sign({ iss: 'https://evil.example' }))), '401 wrong_issuer');
    assert.equal(await refusal(bearer(await sign({}, current, 'someone-else'))), '401 wrong_audience');
  });

  it('refuses alg none and HS256 signed with the public key as the secret, before fetching keys', async () => {
    const claims = b64url(JSON.stringify({ iss: idp.issuer, aud: 'orders', sub: 'ada', exp: nowS() + 60 }));
    const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${claims}.`;
    assert.equal(await refusal(bearer(none)), '401 unsigned');
    // The classic confusion: the RSA public key (which anyone can read in the JWKS) as an HMAC secret.
    const pem = createPublicKey({ key: current.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const head = `${b64url(JSON.stringify({ alg: 'HS256', kid: current.kid, typ: 'JWT' }))}.${claims}`;
    const hs = `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
    assert.equal(await refusal(bearer(hs)), '401 algorithm_not_allowed');
    assert.equal(idp.fetches, 0);
    // An algorithm the Function does not list is refused as well.
    settings = { ...settings, algorithms: ['ES256'] };
    assert.equal(await refusal(bearer(await sign())), '401 algorithm_not_allowed');
  });

  it('refuses a tampered payload and a token signed by a key not in the set', async () => {
    const [head, , signature] = (await sign({ scope: 'orders:read' })).split('.');
    const forged = b64url(JSON.stringify({ iss: idp.issuer, aud: 'orders', sub: 'root', exp: nowS() + 60 }));
    assert.equal(await refusal(bearer(`${head}.${forged}.${signature}`)), '401 bad_signature');
    // Same kid as the real key, another key: the signature fails.
    assert.equal(await refusal(bearer(await sign({}, stranger))), '401 bad_signature');
    // A kid the set lacks: unknown key.
    assert.equal(await refusal(bearer(await sign({}, next))), '401 unknown_key');
  });

  it('ignores keys a token brings itself (jwk, jku headers): keys come from jwksUrl only', async () => {
    const attacker = await makeKey('attacker');
    const token = await new SignJWT({ iss: idp.issuer, aud: 'orders', sub: 'root', exp: nowS() + 60 })
      .setProtectedHeader({
        alg: 'RS256',
        kid: 'attacker',
        jwk: attacker.publicJwk,
        jku: 'http://127.0.0.1:1/evil.json',
      })
      .sign(attacker.privateKey);
    assert.equal(await refusal(bearer(token)), '401 unknown_key');
  });

  it('refuses claims over 8 KiB rather than cut them, and a token over 12 KiB unread', async () => {
    assert.equal(await refusal(bearer(await sign({ blob: 'x'.repeat(8200) }))), '401 claims_too_large');
    await accepted(bearer(await sign({ blob: 'x'.repeat(7000) })));
    assert.equal(await refusal(bearer(await sign({ blob: 'x'.repeat(9500) }))), '401 malformed');
  });

  it('random kids cost at most one fetch per cooldown, not one per request', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 40 }, (_, i) => sign({}, { ...next, kid: `random-${i}-${Math.random()}` })),
    );
    const answers = await Promise.all(tokens.map((t) => refusal(bearer(t))));
    assert.ok(answers.every((a) => a === '401 unknown_key'));
    assert.equal(
      idp.fetches,
      1,
      'the first fetch only: the refetch for an unknown kid waits out the cooldown',
    );
    clock.advance(COOLDOWN_MS);
    for (const t of tokens.slice(0, 10)) assert.equal(await refusal(bearer(t)), '401 unknown_key');
    assert.equal(idp.fetches, 2, 'one more fetch after the cooldown');
  });

  it('follows a rotation: a new key is used without a restart, a removed one stops verifying', async () => {
    const old = await sign();
    await accepted(bearer(old));
    idp.publish([current, next]);
    clock.advance(COOLDOWN_MS);
    await accepted(bearer(await sign({}, next)));
    assert.equal(idp.fetches, 2, 'the new kid made one fetch');
    idp.publish([next]);
    clock.advance(MAX_AGE_MS);
    assert.equal(await refusal(bearer(await sign({}, current))), '401 unknown_key');
    assert.equal(await refusal(bearer(old)), '401 unknown_key', 'the token signed before the rotation');
    await accepted(bearer(await sign({}, next)));
  });

  it('answers 503, not 401, when the key set cannot be had, and keeps serving a stale set for a while', async () => {
    const token = await sign();
    idp.failWith = 500;
    const down = await verify(bearer(token));
    assert.ok(down instanceof Problem);
    assert.deepEqual([down.status, down.details?.reason], [503, 'jwks_unavailable']);
    assert.equal(await refusal(bearer(token)), '503 jwks_unavailable');
    assert.equal(idp.fetches, 1, 'a failed fetch is not retried within the cooldown');
    idp.failWith = undefined;
    clock.advance(COOLDOWN_MS);
    await accepted(bearer(token));
    idp.failWith = 503;
    clock.advance(MAX_AGE_MS);
    await accepted(bearer(await sign()));
    assert.equal(idp.fetches, 3, 'the stale set was fetched again, and served when that failed');
  });

  it('checks required scopes and claims (403), with a route requirement merged in', async () => {
    settings = { ...settings, requiredScopes: ['orders:read'], requiredClaims: { tenant: 'acme' } };
    assert.equal(await refusal(bearer(await sign({ tenant: 'acme' }))), '403 missing_scope');
    assert.equal(
      await refusal(bearer(await sign({ scope: 'orders:read', tenant: 'other' }))),
      '403 missing_claim',
    );
    const good = bearer(await sign({ scp: ['orders:read'], tenant: ['acme', 'x'], groups: ['ops'] }));
    await accepted(good);
    assert.equal(await refusal(good, [{ requiredScopes: ['orders:write'] }]), '403 missing_scope');
    assert.equal(await refusal(good, [{ requiredClaims: { groups: 'admins' } }]), '403 missing_claim');
    assert.ok(!((await verify(good, [{ requiredClaims: { groups: 'ops' } }])) instanceof Problem));
    assert.equal(
      await refusal(good, [{ requiredClaims: { groups: 'ops' } }, { requiredClaims: { groups: 'admins' } }]),
      '403 missing_claim',
      'every route requirement must hold, each on its own',
    );
    const denied = (await verify(good, [{ requiredScopes: ['orders:write'] }])) as Problem;
    assert.match(
      denied.headers['www-authenticate'] ?? '',
      /error="insufficient_scope".*scope="orders:write"/,
    );
  });

  it('never fetches keys where the egress policy forbids: metadata, the platform, plain http to the internet', async () => {
    const token = bearer(await sign());
    const warnings: string[] = [];
    const log = { warn: (msg: string, fields?: object) => warnings.push(`${msg} ${JSON.stringify(fields)}`) };
    const refusedBy = async (jwksUrl: string, guard: EgressGuard) => {
      const f = new JwksFetcher(guard);
      try {
        const v = new JwtVerifier(new JwksCache(f.fetch, clock, DEFAULT_JWKS_CACHE_POLICY, log), clock);
        const outcome = await v.verify(token, { ...settings, jwksUrl });
        assert.ok(outcome instanceof Problem);
        assert.equal(outcome.status, 503);
        return outcome.message;
      } finally {
        await f.close();
      }
    };
    const metadata = await refusedBy('http://169.254.169.254/latest/jwks', egressGuard());
    assert.match(metadata, /egress policy/);
    assert.doesNotMatch(metadata, /169\.254/, 'the caller is not told the address');
    assert.match(warnings[0] ?? '', /169\.254\.169\.254.*link-local/, 'the operator is');
    const idpPort = Number(new URL(idp.issuer).port);
    assert.match(await refusedBy(idp.jwksUrl, egressGuard([idpPort])), /egress policy/);
    const publicName: ResolveHost = async () => [{ address: '93.184.216.34' }];
    assert.match(
      await refusedBy('http://idp.example/jwks.json', egressGuard([], publicName)),
      /egress policy/,
    );
    assert.equal(idp.fetches, 0);
  });

  it('bounds a key set: its size, and only public asymmetric keys kept', async () => {
    const small = new JwksFetcher(egressGuard(), { timeoutMs: 2000, maxBytes: 100, maxKeys: 8 });
    try {
      await assert.rejects(
        small.fetch(idp.jwksUrl),
        (err: Error) => err instanceof JwksUnavailableError && /larger than 100 bytes/.test(err.message),
      );
    } finally {
      await small.close();
    }
    const kept = publicSigningKeys(
      JSON.stringify({
        keys: [
          { kty: 'oct', k: 'c2VjcmV0' },
          { ...current.publicJwk, d: 'private' },
          { ...current.publicJwk, use: 'enc' },
          current.publicJwk,
        ],
      }),
      8,
    );
    assert.deepEqual(kept.keys, [current.publicJwk]);
    assert.throws(() => publicSigningKeys('{"nokeys":1}', 8), JwksUnavailableError);
  });
});
