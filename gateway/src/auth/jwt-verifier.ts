import { type Clock, type HttpJwt, parseDuration } from '@nimbus/api';
import { DEFAULT_CLOCK_SKEW, JWT_ALGORITHMS, MAX_CLOCK_SKEW_MS } from '@nimbus/api/http-auth-schema';
import { type JWTPayload, type JWTVerifyGetKey, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { type Problem, problems } from '../http/problems.js';
import type { JwksCache } from './jwks-cache.js';
import { JwksUnavailableError } from './jwks-fetch.js';
import { type JwtRequirements, claimsHeaderOf, unmetRequirement } from './jwt-requirements.js';

export type { JwtRequirements } from './jwt-requirements.js';

/** A token that passed: its claims, and the header that carries them to the function. */
export interface VerifiedToken {
  readonly claims: JWTPayload;
  readonly claimsHeader: string;
}

/** What the invoke paths ask of sign-in; a test may answer without an identity provider. */
export interface JwtAdmission {
  verify(
    authorization: string | undefined,
    settings: HttpJwt,
    extra?: readonly JwtRequirements[],
  ): Promise<VerifiedToken | Problem>;
}

/** Longer than any header a Node server takes whole; a token this long is not one worth parsing. */
const MAX_TOKEN_LENGTH = 12 * 1024;
const BEARER = /^bearer +([A-Za-z0-9_.~+/=-]+) *$/i;
const ASYMMETRIC: ReadonlySet<string> = new Set(JWT_ALGORITHMS);

/**
 * Checks `Authorization: Bearer <JWT>` against a Function's spec.http.jwt, and against a route's
 * requirements when the caller passes them: signature by a key in the identity provider's JWKS,
 * an asymmetric algorithm the Function allows, iss, aud, exp (required) and nbf within clockSkew
 * of the gateway's clock, then scopes and claims. Every refusal is a Problem naming its reason:
 * 401 for the token, 403 for what a valid token lacks, 503 when the keys cannot be had.
 */
export class JwtVerifier implements JwtAdmission {
  constructor(
    private readonly jwks: Pick<JwksCache, 'keys' | 'keysAfterUnknownKey'>,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  async verify(
    authorization: string | undefined,
    settings: HttpJwt,
    extra: readonly JwtRequirements[] = [],
  ): Promise<VerifiedToken | Problem> {
    if (authorization === undefined || authorization.trim() === '')
      return problems.invalidToken(
        'missing_token',
        'a bearer token is required: send Authorization: Bearer <token>',
      );
    if (authorization.length > MAX_TOKEN_LENGTH)
      return problems.invalidToken('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`);
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined)
      return problems.invalidToken('malformed', 'the Authorization header is not "Bearer <token>"');
    const refused = algorithmRefusal(token, settings);
    if (refused !== undefined) return refused;
    let claims: JWTPayload;
    try {
      claims = await this.check(token, settings);
    } catch (err) {
      return refusalOf(err);
    }
    const unmet = unmetRequirement(claims, [settings, ...extra]);
    if (unmet !== undefined)
      return 'scope' in unmet
        ? problems.insufficientScope('missing_scope', `the token lacks the scope ${unmet.scope}`, unmet.scope)
        : problems.insufficientScope(
            'missing_claim',
            `the token's ${unmet.claim} claim is not ${unmet.value}`,
          );
    const claimsHeader = claimsHeaderOf(claims);
    if (claimsHeader === undefined)
      return problems.invalidToken(
        'claims_too_large',
        "the token's claims are too large to hand to the function",
      );
    return { claims, claimsHeader };
  }

  /** Verifies with the cached keys; a key the set lacks gets one fetch again (within the cooldown). */
  private async check(token: string, settings: HttpJwt): Promise<JWTPayload> {
    const keys = await this.jwks.keys(settings.jwksUrl);
    try {
      return await this.verifyWith(token, keys, settings);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      const fresh = await this.jwks.keysAfterUnknownKey(settings.jwksUrl);
      if (fresh === undefined) throw err;
      return this.verifyWith(token, fresh, settings);
    }
  }

  private async verifyWith(token: string, keys: JWTVerifyGetKey, settings: HttpJwt): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, keys, {
      issuer: settings.issuer,
      audience: settings.audiences,
      algorithms: settings.algorithms ?? [...JWT_ALGORITHMS],
      clockTolerance: skewSecondsOf(settings),
      currentDate: new Date(this.clock.now()),
      requiredClaims: ['exp'],
    });
    return payload;
  }
}

/** clockSkew in seconds, capped at the schema's maximum whatever an old object says. Pure. */
function skewSecondsOf(settings: HttpJwt): number {
  const ms = parseDuration(settings.clockSkew ?? DEFAULT_CLOCK_SKEW);
  return Math.min(ms, MAX_CLOCK_SKEW_MS) / 1000;
}

/**
 * Refuses by the header alone, before any key is fetched: a token that does not decode, `none`,
 * a symmetric algorithm, or one the Function does not allow. Pure.
 */
function algorithmRefusal(token: string, settings: HttpJwt): Problem | undefined {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return problems.invalidToken('malformed', 'the token is not a signed JWT (header.payload.signature)');
  }
  if (token.split('.').length !== 3)
    return problems.invalidToken('malformed', 'the token is not a signed JWT (header.payload.signature)');
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none')
    return problems.invalidToken('unsigned', 'the token is unsigned (alg none); a signed token is required');
  const allowed = settings.algorithms ?? JWT_ALGORITHMS;
  if (!ASYMMETRIC.has(alg) || !(allowed as readonly string[]).includes(alg))
    return problems.invalidToken(
      'algorithm_not_allowed',
      `the token's algorithm ${printableAlg(alg)} is not allowed; use one of ${allowed.join(', ')}`,
    );
  return undefined;
}

function printableAlg(alg: string): string {
  return /^[A-Za-z0-9_-]{1,16}$/.test(alg) ? alg : '(unrecognised)';
}

/** The Problem for what jose or the key cache threw. Pure. */
function refusalOf(err: unknown): Problem {
  if (err instanceof JwksUnavailableError) return problems.identityProviderUnavailable(err.summary, err);
  if (err instanceof errors.JWTExpired) return problems.invalidToken('expired', 'the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
      case 'iat':
        return problems.invalidToken('not_yet_valid', 'the token is not valid yet');
      case 'iss':
        return problems.invalidToken(
          'wrong_issuer',
          "the token's issuer is not the one this function accepts",
        );
      case 'aud':
        return problems.invalidToken(
          'wrong_audience',
          "the token's audience is not one this function accepts",
        );
      case 'exp':
        return problems.invalidToken('malformed', 'the token has no expiry (exp claim)');
      default:
        return problems.invalidToken(
          'malformed',
          `the token's ${printableAlg(err.claim)} claim is not valid`,
        );
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return problems.invalidToken('bad_signature', "the token's signature does not verify");
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return problems.invalidToken(
      'unknown_key',
      "the token was not signed by a key in the identity provider's key set",
    );
  if (err instanceof errors.JOSEAlgNotAllowed)
    return problems.invalidToken('algorithm_not_allowed', "the token's algorithm is not allowed");
  return problems.invalidToken('malformed', 'the token is not a valid signed JWT');
}

/**
 * Sign-in for a route with auth jwt, as both invoke front doors ask it; a route whose settings are
 * missing (an object stored before the CRD required them) refuses every call rather than admit one.
 */
export function signIn(
  admission: JwtAdmission,
  route: { readonly name: string; readonly jwt?: HttpJwt | undefined },
  authorization: string | undefined,
  extra: readonly JwtRequirements[] = [],
): Promise<VerifiedToken | Problem> {
  if (route.jwt === undefined)
    return Promise.resolve(problems.unavailable(route.name, 'auth is jwt but spec.http.jwt is missing'));
  return admission.verify(authorization, route.jwt, extra);
}

/** The header the gateway keeps from the function: the token, unless the Function asks for it. Pure. */
export function tokenHeaderKept(settings: HttpJwt | undefined): string | undefined {
  return settings?.forwardToken === true ? undefined : 'authorization';
}
