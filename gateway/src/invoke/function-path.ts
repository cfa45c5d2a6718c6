import { type FunctionRef, parseFunctionRef } from '@nimbus/api';
import { reachesInternalRoute } from '@nimbus/api/internal-path';
import { TAG_PATTERN } from '@nimbus/api/versions-schema';

const TAG = new RegExp(TAG_PATTERN);

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
  /** `{name}@{tag}`: the tag of the version that must serve (a Function's traffic names it). */
  tag?: string;
}

/**
 * Splits `/function/{name}[.{namespace}][/rest][?query]` (or the same under another prefix, such
 * as `/async-function/`); the namespace `openfaas-fn` is read as `openfaasNamespace`. The name is matched as sent, not percent-decoded, so `%2e%2e` or an
 * encoded slash can never name anything.
 * `{name}[.{namespace}]@{tag}` names a tagged version; `@` is in no Function's name.
 * Returns the raw name segment as `invalid` when it is not a valid name (or tag).
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
  const at = segment.indexOf('@');
  const tag = at === -1 ? undefined : segment.slice(at + 1);
  if (tag !== undefined && !TAG.test(tag)) return { invalid: segment };
  const ref = parseFunctionRef(at === -1 ? segment : segment.slice(0, at), defaultNamespace);
  if (ref === undefined) return { invalid: segment };
  if (ref.namespace === OPENFAAS_NAMESPACE) ref.namespace = openfaasNamespace;
  const tail = rest.slice(end);
  const upstreamPath = tail === '' ? '/' : tail.charCodeAt(0) === 63 ? `/${tail}` : tail;
  const target: InvokeTarget = { ...ref, upstreamPath, internal: reachesInternalRoute(upstreamPath) };
  if (tag !== undefined) target.tag = tag;
  return target;
}
