/**
 * Headers only the gateway may set on a request it forwards to a replica. Each carries something
 * the gateway established (the route parameters it matched, the claims of a token it verified),
 * so a caller's own copy is dropped before forwarding, whatever its case: otherwise a caller
 * could hand the function claims no identity provider signed. Runtimes read them into the
 * handler's event; a container function reads the headers themselves.
 */

/** The matched route's parameters, as a JSON object of strings (`event.params`). */
export const ROUTE_PARAMS_HEADER = 'x-nimbus-params';
/** The verified token's claims, as a JSON object (`event.auth`). */
export const AUTH_CLAIMS_HEADER = 'x-nimbus-auth';

/** Lower-case names of every header the gateway asserts. */
export const GATEWAY_ASSERTED_HEADERS: ReadonlySet<string> = new Set([
  ROUTE_PARAMS_HEADER,
  AUTH_CLAIMS_HEADER,
]);
