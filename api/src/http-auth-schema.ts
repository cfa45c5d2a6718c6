import type { CrossFieldRule } from './cross-field-rule.js';
import { isDuration, parseDuration } from './duration.js';
import { type HttpAuthSpec, type HttpJwt, JWT_ALGORITHMS } from './function.js';
import type { SchemaNode } from './schema-node.js';
import { duration } from './schema-patterns.js';

/**
 * spec.http's `auth` and `jwt`: who may call the function. Kept apart from schema.ts so the
 * sign-in settings read as one unit; schema.ts spreads HTTP_AUTH_PROPERTIES into spec.http.
 */

export { JWT_ALGORITHMS } from './function.js';

/** An absolute http(s) URL with a host and no credentials or fragment. */
export const JWKS_URL_PATTERN = '^https?://[^/?#@\\s]+(/[^#\\s]*)?$';

/** The most clockSkew may be: a wider window lets an expired token live on for longer. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const DEFAULT_CLOCK_SKEW = '30s';

const shortStrings = (description: string, maxItems: number): SchemaNode => ({
  type: 'array',
  maxItems,
  'x-kubernetes-list-type': 'set',
  items: { type: 'string', minLength: 1, maxLength: 256 },
  description,
});

/** What a token must carry besides a valid signature: in spec.http.jwt, and a route's own jwt. */
const JWT_REQUIREMENT_PROPERTIES: Readonly<Record<string, SchemaNode>> = {
  requiredScopes: shortStrings(
    'Scopes the token must carry (its scope claim, space-separated, or scp); a token without one gets 403.',
    20,
  ),
  requiredClaims: {
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 256 },
    description:
      'Claims the token must carry with these values (a list claim must contain the value); otherwise 403.',
  },
};

/**
 * A route's own requirements (spec.http.routes[].jwt), checked as well as the Function's: a
 * route that writes can ask for a scope the reading routes do not. At most 20 claims, as the
 * Function's own rule says, here as a schema bound the API server counts into its CEL budget.
 */
export const routeJwtSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description:
    "With auth jwt: scopes and claims this route's callers must carry besides those spec.http.jwt asks for.",
  properties: {
    ...JWT_REQUIREMENT_PROPERTIES,
    requiredClaims: { ...(JWT_REQUIREMENT_PROPERTIES.requiredClaims as SchemaNode), maxProperties: 20 },
  },
};

const jwtSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer', 'audiences', 'jwksUrl'],
  description:
    'With auth jwt: the identity provider whose tokens the gateway accepts (Authorization: Bearer <token>).',
  properties: {
    issuer: {
      type: 'string',
      minLength: 1,
      maxLength: 512,
      description: "The token's iss claim must equal this.",
    },
    audiences: {
      ...shortStrings("The token's aud claim must name at least one of these.", 20),
      minItems: 1,
    },
    jwksUrl: {
      type: 'string',
      maxLength: 2048,
      pattern: JWKS_URL_PATTERN,
      description:
        "The identity provider's public keys (a JSON Web Key Set). The gateway fetches it through its egress " +
        'policy, so it may not be a Nimbus component, a metadata or (unless NIMBUS_EGRESS_ALLOW allows it) a ' +
        'private address; http:// only to an address NIMBUS_EGRESS_ALLOW names, never to a public one.',
    },
    ...JWT_REQUIREMENT_PROPERTIES,
    clockSkew: {
      ...duration(DEFAULT_CLOCK_SKEW),
      description: 'How far exp and nbf may be off the gateway clock; at most 5m.',
    },
    forwardToken: {
      type: 'boolean',
      default: false,
      description:
        'Pass the Authorization header on to the function. Off, the function sees only the verified claims (event.auth).',
    },
    algorithms: {
      type: 'array',
      minItems: 1,
      maxItems: JWT_ALGORITHMS.length,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', enum: [...JWT_ALGORITHMS] },
      description: 'The signature algorithms accepted; unset, every asymmetric one listed here.',
    },
  },
};

export const HTTP_AUTH_PROPERTIES: Readonly<Record<string, SchemaNode>> = {
  auth: {
    type: 'string',
    enum: ['none', 'key', 'jwt'],
    default: 'none',
    description:
      "none: any caller. key: callers need an API key with the invoke scope, which the function's code " +
      'never sees. jwt: callers need a token the identity provider in jwt signed; the function sees its claims.',
  },
  jwt: jwtSchema,
};

/** The cross-field rules of spec.http's auth settings; rules.ts lists them with the others. */
export const HTTP_AUTH_RULES: readonly CrossFieldRule[] = [
  {
    at: 'http',
    field: 'jwt',
    cel: "(self.auth == 'jwt') == has(self.jwt)",
    message: 'is required with auth jwt, and only allowed with it',
    holds: (http) => {
      const h = http as HttpAuthSpec;
      return (h.auth === 'jwt') === (h.jwt !== undefined);
    },
  },
  {
    at: 'http.jwt',
    field: 'requiredClaims',
    cel: '!has(self.requiredClaims) || self.requiredClaims.size() <= 20',
    message: 'may name at most 20 claims',
    holds: (jwt) => Object.keys((jwt as HttpJwt).requiredClaims ?? {}).length <= 20,
  },
  {
    at: 'http.jwt',
    field: 'clockSkew',
    cel: "!has(self.clockSkew) || duration(self.clockSkew) <= duration('5m')",
    message: 'must be at most 5m',
    holds: (jwt) => {
      const skew = (jwt as HttpJwt).clockSkew;
      return skew === undefined || !isDuration(skew) || parseDuration(skew) <= MAX_CLOCK_SKEW_MS;
    },
  },
];
