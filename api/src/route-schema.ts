import { type CrossFieldRule, rule } from './cross-field-rule.js';
import type { HttpAuth, HttpRoute } from './function.js';
import { routeJwtSchema } from './http-auth-schema.js';
import type { SchemaNode } from './schema-node.js';

/**
 * `spec.http.routes`: paths of the Function's own (`GET /api/orders/{id}`) that the gateway
 * serves beside `/function/{name}`. A template is literal segments, `{name}` for one segment and
 * an optional trailing `{name...}` for the rest of the path, which may be empty. Templates are
 * checked here (OpenAPI and CEL) and in local mode by the same rules (ROUTE_RULES), so a route
 * the gateway could not serve as written never gets stored.
 */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const LITERAL = "[A-Za-z0-9._~!$&'()*+,;=:@-]+";
const NAME = '[A-Za-z_][A-Za-z0-9_]{0,31}';
/** `/`, or segments each a literal or `{name}`, optionally ending in `/{name...}`. */
export const ROUTE_PATH_PATTERN = `^(/|(/(${LITERAL}|\\{${NAME}\\}))*(/\\{${NAME}\\.\\.\\.\\})?)$`;
const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
/** An exact lower-case DNS name, or `*.` and one: any name under it, the domain itself not included. */
export const ROUTE_HOST_PATTERN = `^(\\*\\.)?${LABEL}(\\.${LABEL})*$`;
/** `*`, or an origin as a browser sends it: scheme, host, optional port, nothing after. */
export const CORS_ORIGIN_PATTERN = '^(\\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$';
/** An HTTP header name (an RFC 9110 token). */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

/**
 * First segments the gateway serves itself; a route there would never be reached, or would hide
 * the gateway's own API. `webhook` is pushed event sources (gateway/src/sources), `_` the
 * runtime's internal routes (internal-path.ts).
 */
export const RESERVED_ROUTE_SEGMENTS = [
  'function',
  'async-function',
  'system',
  'ui',
  'healthz',
  'readyz',
  'metrics',
  'webhook',
  '_',
] as const;

export const ROUTE_PATTERN_HINTS: Readonly<Record<string, string>> = {
  [ROUTE_PATH_PATTERN]:
    'must be a path template: /literal and /{name} segments, optionally ending in /{name...}; a name is letters, digits and _',
  [ROUTE_HOST_PATTERN]: 'must be a lower-case DNS name such as api.example.com, or *.example.com',
  [CORS_ORIGIN_PATTERN]:
    'must be "*" or an origin such as https://app.example.com (scheme, host, optional port)',
  [HEADER_NAME_PATTERN]: 'must be an HTTP header name',
};

const methods = (description: string): SchemaNode => ({
  type: 'array',
  maxItems: HTTP_METHODS.length,
  'x-kubernetes-list-type': 'set',
  description,
  items: { type: 'string', enum: [...HTTP_METHODS] },
});

const headerNames = (description: string): SchemaNode => ({
  type: 'array',
  maxItems: 32,
  'x-kubernetes-list-type': 'set',
  description,
  items: { type: 'string', pattern: HEADER_NAME_PATTERN, maxLength: 64 },
});

const corsSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  required: ['allowOrigins'],
  description:
    'Cross-origin calls from browsers. The gateway answers preflights itself, without waking the ' +
    'function, and adds Access-Control-Allow-Origin to responses for an allowed origin.',
  properties: {
    allowOrigins: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      'x-kubernetes-list-type': 'set',
      description: 'Origins allowed to call, exactly as browsers send them, or "*" for any.',
      items: { type: 'string', pattern: CORS_ORIGIN_PATTERN, maxLength: 253 },
    },
    allowMethods: methods(
      "Methods a preflight may ask for; unset: the route's methods (all when it has none).",
    ),
    allowHeaders: headerNames('Request headers a preflight may ask for, besides the CORS-safelisted ones.'),
    exposeHeaders: headerNames("Response headers the browser lets the page's script read."),
    allowCredentials: {
      type: 'boolean',
      description: 'Whether the browser may send cookies and credentials; not with the origin "*".',
    },
    maxAge: {
      type: 'integer',
      minimum: 0,
      maximum: 86400,
      description: 'Seconds a browser may keep a preflight answer.',
    },
  },
};

export const routesSchema: SchemaNode = {
  type: 'array',
  // 16 routes of at most 128 characters: what keeps the CEL rules within the API server's cost budget.
  maxItems: 16,
  description:
    'Paths of its own the gateway serves the function on, besides /function/{name}: the most ' +
    'specific template matching a request wins, and a route another Function already holds is ' +
    'refused with the condition RoutesReady (docs/http-api.md, Routes).',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        maxLength: 128,
        pattern: ROUTE_PATH_PATTERN,
        description:
          'A path template such as /api/orders/{id} or /files/{path...}; the parameters reach the ' +
          'handler as event.params.',
      },
      methods: methods('The methods the route serves; unset: all of them.'),
      host: {
        type: 'string',
        maxLength: 253,
        pattern: ROUTE_HOST_PATTERN,
        description: 'Serve the route only for this Host; *.example.com for any name under example.com.',
      },
      cors: corsSchema,
      jwt: routeJwtSchema,
    },
  },
};

const hostOf = (route: HttpRoute): string => route.host ?? '';
const overlap = (a: HttpRoute, b: HttpRoute): boolean =>
  a.methods === undefined || b.methods === undefined || a.methods.some((m) => b.methods?.includes(m));
const PARAM_NAME = /\{[A-Za-z_][A-Za-z0-9_]*/g;
/** PARAM_NAME as a CEL string literal's text. */
const PARAM_NAME_CEL = '\\\\{[A-Za-z_][A-Za-z0-9_]*';
/** Parameters in one template: plenty for a path, and a bound for the CEL rule's cost. */
export const MAX_PARAMS = 8;
const RESERVED_SOURCE = `^/(${RESERVED_ROUTE_SEGMENTS.join('|')})(/|$)`;
const RESERVED = new RegExp(RESERVED_SOURCE);
const DOT_SEGMENT = /\/\.\.?(\/|$)/;

/** The rules on routes a schema pattern cannot say, in CEL for the API server and TypeScript for local mode. */
export const ROUTE_RULES: readonly CrossFieldRule[] = [
  rule<HttpRoute>({
    at: 'http.routes',
    field: 'path',
    cel: "!self.path.matches('/\\\\.\\\\.?(/|$)')",
    message: 'must not have . or .. segments',
    holds: (route) => !DOT_SEGMENT.test(route.path),
  }),
  rule<HttpRoute>({
    at: 'http.routes',
    field: 'path',
    cel: `!self.path.matches('${RESERVED_SOURCE}')`,
    message: `must not start with ${RESERVED_ROUTE_SEGMENTS.map((s) => `/${s}`).join(', ')}: the gateway serves those paths itself`,
    holds: (route) => !RESERVED.test(route.path),
  }),
  rule<HttpRoute>({
    at: 'http.routes',
    field: 'path',
    cel: `self.path.findAll('\\\\{', ${MAX_PARAMS + 1}).size() <= ${MAX_PARAMS}`,
    message: `must not have more than ${MAX_PARAMS} parameters`,
    holds: (route) => (route.path.match(/\{/g) ?? []).length <= MAX_PARAMS,
  }),
  rule<HttpRoute>({
    at: 'http.routes',
    field: 'path',
    // Linear, as the API server's cost estimate needs: a pairwise comparison is refused as too costly.
    cel: `self.path.findAll('${PARAM_NAME_CEL}').distinct().size() == self.path.findAll('${PARAM_NAME_CEL}').size()`,
    message: 'must not name a parameter twice',
    holds: (route) => {
      const names = route.path.match(PARAM_NAME) ?? [];
      return new Set(names).size === names.length;
    },
  }),
  rule<HttpRoute>({
    at: 'http.routes',
    field: 'cors.allowCredentials',
    cel: "!has(self.cors) || !has(self.cors.allowCredentials) || !self.cors.allowCredentials || !('*' in self.cors.allowOrigins)",
    message: 'cannot be true with the origin "*": browsers refuse credentials for any origin',
    holds: (route) => route.cors?.allowCredentials !== true || !route.cors.allowOrigins.includes('*'),
  }),
  rule<{ auth?: HttpAuth; routes?: HttpRoute[] }>({
    at: 'http',
    field: 'routes',
    cel: "!has(self.routes) || self.auth == 'jwt' || self.routes.all(r, !has(r.jwt))",
    message: 'may give a route jwt requirements only with auth jwt',
    holds: (http) => http.auth === 'jwt' || (http.routes ?? []).every((r) => r.jwt === undefined),
  }),
  rule<{ routes?: HttpRoute[] }>({
    at: 'http',
    field: 'routes',
    cel: "!has(self.routes) || self.routes.all(r, self.routes.exists_one(s, s.path == r.path && (has(s.host) ? s.host : '') == (has(r.host) ? r.host : '') && (!has(s.methods) || !has(r.methods) || s.methods.exists(m, m in r.methods))))",
    message: 'must not have the same path and host twice with a method in common',
    holds: (http) => {
      const routes = http.routes ?? [];
      return routes.every(
        (r) =>
          routes.filter((s) => s.path === r.path && hostOf(s) === hostOf(r) && overlap(s, r)).length === 1,
      );
    },
  }),
];
