/**
 * How a replica's spans reach the gateway (docs/tracing.md): the gateway asks with the request
 * header, only when its span for the request is sampled; the runtime answers with its spans in the
 * response header, base64url JSON. Runtime and gateway both read the names from here.
 */
export const TRACE_REQUEST_HEADER = 'x-nimbus-trace';
export const SPANS_RESPONSE_HEADER = 'x-nimbus-spans';
