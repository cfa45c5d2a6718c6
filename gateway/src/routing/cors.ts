import type { HttpMethod, RouteCors } from '@nimbus/api';
import { HTTP_METHODS } from '@nimbus/api/route-schema';

/**
 * A route's CORS policy, made once when routes change so a request only does set lookups. The
 * gateway answers preflights itself (no function is woken for a question about headers) and adds
 * the allow headers to actual responses for an allowed origin, and nothing for any other.
 */
export interface CompiledCors {
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly methods: ReadonlySet<string>;
  /** Lower-case. */
  readonly headers: ReadonlySet<string>;
  readonly credentials: boolean;
  readonly maxAge: number | undefined;
  readonly expose: string | undefined;
}

/** Request headers a browser sends without asking (the Fetch standard's CORS-safelisted ones). */
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);

/** Pure. */
export function compileCors(cors: RouteCors, routeMethods: readonly HttpMethod[] | undefined): CompiledCors {
  return {
    anyOrigin: cors.allowOrigins.includes('*'),
    origins: new Set(cors.allowOrigins),
    methods: new Set(cors.allowMethods ?? routeMethods ?? HTTP_METHODS),
    headers: new Set((cors.allowHeaders ?? []).map((h) => h.toLowerCase())),
    credentials: cors.allowCredentials === true,
    maxAge: cors.maxAge,
    expose:
      cors.exposeHeaders === undefined || cors.exposeHeaders.length === 0
        ? undefined
        : cors.exposeHeaders.join(', '),
  };
}

export function originAllowed(cors: CompiledCors, origin: string): boolean {
  return cors.anyOrigin || cors.origins.has(origin);
}

/** A preflight's answer: the headers of a 204, or what the policy does not allow. */
export type PreflightAnswer = { ok: true; headers: Record<string, string> } | { ok: false; why: string };

/**
 * Answers `OPTIONS` with `Origin` and `Access-Control-Request-Method`. The requested headers
 * are echoed back when every one is allowed (or safelisted). Pure.
 */
export function answerPreflight(
  cors: CompiledCors,
  origin: string,
  method: string,
  requestHeaders: string | undefined,
): PreflightAnswer {
  if (!originAllowed(cors, origin))
    return { ok: false, why: `the origin ${printable(origin)} is not allowed` };
  if (!cors.methods.has(method)) return { ok: false, why: `the method ${printable(method)} is not allowed` };
  const asked = (requestHeaders ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const refused = asked.find((h) => !cors.headers.has(h) && !SAFELISTED.has(h));
  if (refused !== undefined) return { ok: false, why: `the header ${printable(refused)} is not allowed` };
  const headers: Record<string, string> = {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': [...cors.methods].join(', '),
    vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
  };
  if (asked.length > 0) headers['access-control-allow-headers'] = asked.join(', ');
  if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.maxAge !== undefined) headers['access-control-max-age'] = String(cors.maxAge);
  return { ok: true, headers };
}

/**
 * The headers an actual response carries: the echoed origin and the rest for an allowed one;
 * only `Vary: Origin` for any other, so a cache keeps the two answers apart. Pure.
 */
export function responseCorsHeaders(cors: CompiledCors, origin: string | undefined): [string, string][] {
  if (origin === undefined || !originAllowed(cors, origin)) return [['vary', 'Origin']];
  const headers: [string, string][] = [
    ['access-control-allow-origin', origin],
    ['vary', 'Origin'],
  ];
  if (cors.credentials) headers.push(['access-control-allow-credentials', 'true']);
  if (cors.expose !== undefined) headers.push(['access-control-expose-headers', cors.expose]);
  return headers;
}

function printable(text: string): string {
  return JSON.stringify(text.slice(0, 128));
}
