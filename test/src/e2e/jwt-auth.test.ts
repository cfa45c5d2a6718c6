import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { TestIdentityProvider, type TestKey, b64url, makeKey } from '@nimbus/testkit/identity-provider';
import { callReaches, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** What the handler saw: its event.auth, and the headers that reached it. */
const WHOAMI = `export default async (event) => ({
  auth: event.auth ?? null,
  authorization: event.headers.authorization ?? null,
  claimsHeader: event.headers['x-nimbus-auth'] ?? null,
});`;

/** The same in runtime-python. */
const WHOAMI_PY = `
def handle(event, ctx):
    return {
        "auth": event.auth,
        "authorization": event.headers.get("authorization"),
        "claimsHeader": event.headers.get("x-nimbus-auth"),
    }
`;

/** spec.http for a Function that takes tokens of `idp` (YAML flow style); `more` adds jwt fields. */
const jwtHttp = (jwksUrl: string, issuer: string, more = '') =>
  `http: { auth: jwt, jwt: { issuer: "${issuer}", audiences: [orders], jwksUrl: "${jwksUrl}"${more} } }`;

interface Seen {
  auth: Record<string, unknown> | null;
  authorization: string | null;
  claimsHeader: string | null;
}

/**
 * spec.http.auth jwt end to end: local mode's gateway verifies tokens against a JWKS server this
 * test starts on loopback, and a real runtime-node replica shows what reached the handler.
 */
describe('sign-in with an identity provider (auth jwt), in local mode', function () {
  this.timeout(60_000);
  let idp: TestIdentityProvider;
  let key: TestKey;
  let other: TestKey;
  let platform: LocalModeProcess;
  let dir: string;

  const nowS = () => Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown> = {}, k = key, audience = 'orders') =>
    idp.sign(k, claims, nowS(), audience);
  const call = (fn: string, headers: Record<string, string> = {}) =>
    send(platform.url, `/function/${fn}`, { headers });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  before(async () => {
    [key, other] = await Promise.all([makeKey('k1'), makeKey('k2', 'ES256')]);
    idp = await TestIdentityProvider.start([key]);
    dir = await functionsFolder({
      'whoami.yaml': inlineFunction(
        'whoami',
        WHOAMI,
        `${jwtHttp(idp.jwksUrl, idp.issuer)}\nscale: { min: 1 }`,
      ),
      'forwards.yaml': inlineFunction(
        'forwards',
        WHOAMI,
        `${jwtHttp(idp.jwksUrl, idp.issuer, ', forwardToken: true, requiredScopes: [orders:read]')}\nscale: { min: 1 }`,
      ),
      'whoami-py.yaml': inlineFunction(
        'whoami-py',
        WHOAMI_PY,
        `runtime: python3.11\n${jwtHttp(idp.jwksUrl, idp.issuer)}\nscale: { min: 1 }`,
      ),
      'metadata.yaml': inlineFunction(
        'metadata',
        WHOAMI,
        jwtHttp('http://169.254.169.254/latest/jwks.json', idp.issuer),
      ),
    });
    platform = await LocalModeProcess.start(dir);
    await eventually(
      async () => {
        const list = (await send(platform.url, '/system/functions', { headers: admin })).json<
          { metadata: { name: string }; status: { readyReplicas: number } }[]
        >();
        return list.filter((f) => f.status.readyReplicas > 0).length >= 3 ? true : undefined;
      },
      30_000,
      'whoami, whoami-py and forwards to have a ready replica',
    );
  });

  after(async () => {
    await platform?.stop();
    await idp?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('hands the verified claims to the handler as event.auth, and keeps the token from it', async () => {
    const reply = await call('whoami', bearer(await sign({ email: 'ada@example.com' })));
    assert.equal(reply.status, 200, reply.text);
    const seen = reply.json<Seen>();
    assert.equal(seen.auth?.sub, 'ada');
    assert.equal(seen.auth?.email, 'ada@example.com');
    assert.equal(seen.authorization, null, 'the token did not reach the handler');
    assert.equal(seen.claimsHeader, null, 'the raw claims header is not left in event.headers');
  });

  it('hands the same claims to a Python handler as event.auth', async () => {
    const reply = await call('whoami-py', {
      ...bearer(await sign({ groups: ['ops'] })),
      'x-nimbus-auth': '{"sub":"root"}',
    });
    assert.equal(reply.status, 200, reply.text);
    const seen = reply.json<Seen>();
    assert.deepEqual([seen.auth?.sub, seen.auth?.groups], ['ada', ['ops']]);
    assert.deepEqual([seen.authorization, seen.claimsHeader], [null, null]);
  });

  it('passes the token on only with forwardToken, and enforces requiredScopes with 403', async () => {
    const token = await sign({ scope: 'orders:read profile' });
    const reply = await call('forwards', bearer(token));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json<Seen>().authorization, `Bearer ${token}`);
    const denied = await call('forwards', bearer(await sign({ scope: 'profile' })));
    assert.equal(denied.status, 403, denied.text);
    assert.deepEqual([denied.json().code, denied.json().reason], ['InsufficientScope', 'missing_scope']);
    assert.match(String(denied.headers['www-authenticate']), /error="insufficient_scope"/);
  });

  it('never lets a caller-sent x-nimbus-auth reach the handler, with or without a token', async () => {
    const forged = JSON.stringify({ sub: 'root', scope: 'admin' });
    const without = await call('whoami', { 'x-nimbus-auth': forged });
    assert.equal(without.status, 401, 'no token: refused, forged claims or not');
    const reply = await call('whoami', { ...bearer(await sign()), 'X-Nimbus-Auth': forged });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json<Seen>().auth?.sub, 'ada', "the gateway's claims, not the caller's");
  });

  it('refuses each bad token with 401, its reason and a WWW-Authenticate challenge', async () => {
    const claims = b64url(JSON.stringify({ iss: idp.issuer, aud: 'orders', sub: 'root', exp: nowS() + 60 }));
    const pem = createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const hsHead = `${b64url(JSON.stringify({ alg: 'HS256', kid: 'k1', typ: 'JWT' }))}.${claims}`;
    const [head, , signature] = (await sign()).split('.');
    const attacks: [string, string | undefined, string][] = [
      ['no token', undefined, 'missing_token'],
      ['expired', await sign({ exp: nowS() - 120 }), 'expired'],
      ['not yet valid', await sign({ nbf: nowS() + 120 }), 'not_yet_valid'],
      ['wrong audience', await sign({}, key, 'billing'), 'wrong_audience'],
      ['wrong issuer', await sign({ iss: 'https://evil.example' }), 'wrong_issuer'],
      ['alg none', `${b64url(JSON.stringify({ alg: 'none' }))}.${claims}.`, 'unsigned'],
      [
        'HS256 with the public key as secret',
        `${hsHead}.${createHmac('sha256', pem).update(hsHead).digest('base64url')}`,
        'algorithm_not_allowed',
      ],
      ['an unknown key', await sign({}, other), 'unknown_key'],
      ['a tampered payload', `${head}.${claims}.${signature}`, 'bad_signature'],
      ['garbage', 'not.a.token', 'malformed'],
    ];
    for (const [name, token, reason] of attacks) {
      const reply = await call('whoami', token === undefined ? {} : bearer(token));
      assert.equal(reply.status, 401, `${name}: ${reply.text}`);
      assert.deepEqual([reply.json().code, reply.json().reason], ['InvalidToken', reason], name);
      assert.match(String(reply.headers['www-authenticate']), /^Bearer realm="nimbus"/, name);
      if (token !== undefined)
        assert.match(String(reply.headers['www-authenticate']), /error="invalid_token"/, name);
    }
  });

  it('random kids do not make the gateway hammer the identity provider', async () => {
    await call('whoami', bearer(await sign()));
    const before = idp.fetches;
    const replies = await Promise.all(
      Array.from({ length: 30 }, async (_, i) =>
        call('whoami', bearer(await sign({}, { ...other, kid: `random-${i}` }))),
      ),
    );
    assert.ok(replies.every((r) => r.status === 401 && r.json().reason === 'unknown_key'));
    assert.ok(
      idp.fetches - before <= 1,
      `${idp.fetches - before} fetches for 30 unknown kids (at most 1 per 30 s)`,
    );
  });

  it('queues an async call only with a valid token, and the queued call carries the claims', async () => {
    const refused = await postAsync(platform.url, 'whoami', {}, '');
    assert.equal(refused.status, 401, refused.text);
    const reply = await eventually(
      async () => {
        const r = await postAsync(platform.url, 'whoami', bearer(await sign({ tenant: 'acme' })), '');
        return r.status === 503 ? undefined : r;
      },
      5_000,
      'the queue to take calls',
    );
    assert.equal(reply.status, 202, reply.text);
    const done = await callReaches(platform.url, reply.headers['x-call-id'] as string, 'succeeded');
    const seen = JSON.parse(String(done.result?.body)) as Seen;
    assert.deepEqual([seen.auth?.sub, seen.auth?.tenant, seen.authorization], ['ada', 'acme', null]);
  });

  it('refuses to fetch keys from a metadata address: 503 naming the egress policy, not 401', async () => {
    const reply = await eventually(
      async () => {
        const r = await call('metadata', bearer(await sign()));
        return r.json().reason === 'jwks_unavailable' ? r : undefined;
      },
      15_000,
      'the metadata function to answer',
    );
    assert.equal(reply.status, 503, reply.text);
    assert.match(String(reply.json().error), /egress policy/);
    assert.doesNotMatch(reply.text, /169\.254/, 'the address is for the log, not the caller');
  });
});
