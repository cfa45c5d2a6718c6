import { InvalidStoreInputError } from './errors.js';

/**
 * The Redis key layout, in one place. Every key starts with a root (`nimbus` unless a test
 * or a shared Redis asks for another); what follows the root is fixed:
 *
 *   <root>:state:<namespace>:<function>:<key>   hash { v: JSON value, ver: version }
 *   <root>:state-index:<namespace>:<function>   sorted set: each key, scored by its expiry (ms, +inf: none)
 *   <root>:state-usage:<namespace>:<function>   hash: each key's bytes, and the total under "\0bytes"
 *   <root>:call:<id>                            hash, one JSON-encoded field per record field
 *   <root>:dlq:entry:<id>                       hash { entry: JSON, member, namespace, function }
 *   <root>:dlq:index                            sorted set (lexical), every dead letter
 *   <root>:dlq:index:<namespace>                sorted set (lexical), one namespace
 *   <root>:dlq:index:<namespace>:<function>     sorted set (lexical), one function
 *   <root>:claim:<key>                          string: the owner
 *   <root>:rate:<bucket>                        hash { tokens, at }: a rate limit's token bucket
 *   <root>:checkpoint:<ns>/<fn>/<trigger>       hash: an event source's checkpoint, field -> value
 */
export const DEFAULT_KEY_ROOT = 'nimbus';

// Kubernetes names (RFC 1123 labels; function names are stricter still). Isolation depends on
// this: with no ':' and no glob characters in a name, one function's prefix can never be a
// prefix of another's, and the prefix can go into an ACL key pattern as it is.
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ROOT = /^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$/;

export function checkFunctionName(namespace: string, fn: string): void {
  if (!NAME.test(namespace))
    throw new InvalidStoreInputError(
      `namespace ${JSON.stringify(namespace)} is not a lower-case RFC 1123 label of at most 63 characters`,
    );
  if (!NAME.test(fn))
    throw new InvalidStoreInputError(
      `function name ${JSON.stringify(fn)} is not a lower-case RFC 1123 label of at most 63 characters`,
    );
}

export function checkKeyRoot(root: string): string {
  if (!ROOT.test(root))
    throw new InvalidStoreInputError(
      `key root ${JSON.stringify(root)} must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit`,
    );
  return root;
}

/**
 * Where one function's state keys live: `<root>:state:<namespace>:<function>:`. The
 * controller's Redis ACL user for the function is limited to this prefix followed by `*`.
 */
export function stateKeyPrefix(namespace: string, fn: string, root = DEFAULT_KEY_ROOT): string {
  checkFunctionName(namespace, fn);
  return `${checkKeyRoot(root)}:state:${namespace}:${fn}:`;
}

/**
 * The two keys that count one function's state against its quotas (see redis/state-store.ts).
 * Outside the function's prefix, so no state key can collide with them.
 */
export function stateQuotaKeys(
  namespace: string,
  fn: string,
  root = DEFAULT_KEY_ROOT,
): { index: string; usage: string } {
  checkFunctionName(namespace, fn);
  const r = checkKeyRoot(root);
  return { index: `${r}:state-index:${namespace}:${fn}`, usage: `${r}:state-usage:${namespace}:${fn}` };
}

/** The Redis ACL user of one function's state: `<root>-fn:<namespace>:<function>`. */
export function functionUsername(namespace: string, fn: string, root = DEFAULT_KEY_ROOT): string {
  checkFunctionName(namespace, fn);
  return `${checkKeyRoot(root)}-fn:${namespace}:${fn}`;
}

export const callKey = (root: string, id: string): string => `${root}:call:${id}`;

export const claimKey = (root: string, key: string): string => `${root}:claim:${key}`;

export const checkpointKey = (root: string, key: string): string => `${root}:checkpoint:${key}`;

export const rateKey = (root: string, bucket: string): string => `${root}:rate:${bucket}`;

export const deadLetterEntryKey = (root: string, id: string): string => `${root}:dlq:entry:${id}`;

/** The dead-letter index for everything, one namespace, or one function. */
export function deadLetterIndexKey(root: string, namespace?: string, fn?: string): string {
  if (namespace === undefined) return `${root}:dlq:index`;
  if (fn === undefined) return `${root}:dlq:index:${namespace}`;
  return `${root}:dlq:index:${namespace}:${fn}`;
}

// No whitespace or control characters: ids appear in URLs, logs and key names.
const ID = /^[^\s\p{Cc}]{1,256}$/u;

/** A call id, dead-letter id or claim key: 1-256 characters, none of them whitespace or control characters. */
export function checkId(kind: string, id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id))
    throw new InvalidStoreInputError(
      `${kind} ${JSON.stringify(id)} must be 1-256 characters without whitespace or control characters`,
    );
  return id;
}
