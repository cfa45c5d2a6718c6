import { type FunctionRef, parseFunctionRef } from '@nimbus/api';
import { reachesInternalRoute } from '@nimbus/api/internal-path';

export const INVOKE_PREFIX = '/function/';
/** The namespace faas-cli names when told none; read as the gateway's `openfaasNamespace`. */
export const OPENFAAS_NAMESPACE = 'openfaas-fn';
export const ASYNC_PREFIX = '/async-function/';

export interface InvokeTarget extends FunctionRef {
  /** The path and query the replica receives: what followed the name, or `/`. */
  upstreamPath: string;
  /**
   * The path reaches the runtime's internal routes (`/_/…`) under some spelling: encoded, dotted,
   * doubled slashes. Such a request is never forwarded.
   */
  internal: boolean;
}

/**
 * Splits `/function/{name}[.{namespace}][/rest][?query]` (or the same under another prefix, such
 * as `/async-function/`); the namespace `openfaas-fn` is read as `openfaasNamespace`. The name is matched as sent, not percent-decoded, so `%2e%2e` or an
 * encoded slash can never name anything.
 * Returns the raw name segment as `invalid` when it is not a valid name.
 */
export function parseInvokePath(
  url: string,
  defaultNamespace: string,
  prefix = INVOKE_PREFIX,
  openfaasNamespace = OPENFAAS_NAMESPACE,
): InvokeTarget | { invalid: string } {
  const rest = url.slice(prefix.length);
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */) {
      end = i;
      break;
    }
  }
  const segment = rest.slice(0, end);
  const ref = parseFunctionRef(segment, defaultNamespace);
  if (ref === undefined) return { invalid: segment };
  if (ref.namespace === OPENFAAS_NAMESPACE) ref.namespace = openfaasNamespace;
  const tail = rest.slice(end);
  const upstreamPath = tail === '' ? '/' : tail.charCodeAt(0) === 63 ? `/${tail}` : tail;
  return { ...ref, upstreamPath, internal: reachesInternalRoute(upstreamPath) };
}
