import { DEFAULT_NAMESPACE } from './function.js';

/**
 * A function's name becomes a Service name in a cluster, so it must be an RFC 1035 label:
 * lower-case letters, digits and '-', starting with a letter, at most 63 characters.
 */
export const FUNCTION_NAME_PATTERN = '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$';
/** Namespaces are RFC 1123 labels. */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';

const FUNCTION_NAME = new RegExp(FUNCTION_NAME_PATTERN);
const NAMESPACE = new RegExp(NAMESPACE_PATTERN);

export function isFunctionName(name: string): boolean {
  return FUNCTION_NAME.test(name);
}

export function isNamespace(name: string): boolean {
  return NAMESPACE.test(name);
}

/** The key that identifies a function across the platform: `namespace/name`. */
export function functionKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export interface FunctionRef {
  name: string;
  namespace: string;
}

/**
 * Parses the `{name}[.{namespace}]` form the gateway routes use (as OpenFaaS does).
 * Returns undefined for anything that is not a valid name and namespace.
 */
export function parseFunctionRef(
  text: string,
  defaultNamespace = DEFAULT_NAMESPACE,
): FunctionRef | undefined {
  const dot = text.indexOf('.');
  const name = dot === -1 ? text : text.slice(0, dot);
  const namespace = dot === -1 ? defaultNamespace : text.slice(dot + 1);
  if (!isFunctionName(name) || !isNamespace(namespace)) return undefined;
  return { name, namespace };
}
