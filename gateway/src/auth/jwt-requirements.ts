import type { JWTPayload } from 'jose';

/**
 * What a token must carry beyond a valid signature: scopes and claim values. A Function's
 * spec.http.jwt sets them; a route may add its own, checked as well (both must hold).
 */
export interface JwtRequirements {
  readonly requiredScopes?: readonly string[] | undefined;
  readonly requiredClaims?: Readonly<Record<string, string>> | undefined;
}

/** What a token lacks: the scope or the claim. */
export type Unmet = { readonly scope: string } | { readonly claim: string; readonly value: string };

/**
 * The token's scopes: the space-separated `scope` claim (RFC 8693, OAuth 2.0 providers) and
 * `scp`, a list or a space-separated string (Okta, Microsoft Entra). Pure.
 */
export function scopesOf(claims: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    const words = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const word of words) if (typeof word === 'string' && word !== '') scopes.add(word);
  }
  return scopes;
}

/** Whether a claim holds `expected`: equal as text, or, for a list, one of its items. Pure. */
function claimHolds(actual: unknown, expected: string): boolean {
  if (Array.isArray(actual)) return actual.some((item) => claimHolds(item, expected));
  return (
    (typeof actual === 'string' || typeof actual === 'number' || typeof actual === 'boolean') &&
    String(actual) === expected
  );
}

/** The first requirement of any of `all` the claims do not meet, or undefined when they meet every one. Pure. */
export function unmetRequirement(
  claims: JWTPayload,
  all: readonly (JwtRequirements | undefined)[],
): Unmet | undefined {
  let scopes: Set<string> | undefined;
  for (const requirements of all) {
    for (const scope of requirements?.requiredScopes ?? []) {
      scopes ??= scopesOf(claims);
      if (!scopes.has(scope)) return { scope };
    }
    for (const [claim, value] of Object.entries(requirements?.requiredClaims ?? {})) {
      if (!Object.hasOwn(claims, claim) || !claimHolds(claims[claim], value)) return { claim, value };
    }
  }
  return undefined;
}

/** The most a claims header may be, in bytes; a token whose claims are larger is refused. */
export const MAX_CLAIMS_HEADER_BYTES = 8192;

/**
 * Claims as the header the function gets: compact JSON with every character beyond ASCII
 * escaped, so the value is a valid header whatever names the token carries and still parses as
 * the same JSON. Undefined when longer than MAX_CLAIMS_HEADER_BYTES. Pure.
 */
export function claimsHeaderOf(claims: JWTPayload): string | undefined {
  const text = JSON.stringify(claims).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return text.length > MAX_CLAIMS_HEADER_BYTES ? undefined : text;
}
