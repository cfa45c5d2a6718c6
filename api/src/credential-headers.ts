/**
 * Headers that carry someone's credentials: the caller's key or token, a session cookie, a
 * cookie a function sets. The gateway passes them through to the function (a public function may
 * check its own Authorization header), but nothing Nimbus keeps for later (a dead letter, a call
 * record's result, a NIMBUS_DLQ copy) holds them: kept, they would sit in Redis or NATS for days
 * and show in the admin API to every holder of an admin key. The store drops them when it stores,
 * the admin views mask any an older entry still has, and all of them ask this module.
 */

/** Lower-case names; a header is matched whatever its case. */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
]);

const NAMES: ReadonlySet<string> = new Set(CREDENTIAL_HEADERS);

/** Whether `name` is one of CREDENTIAL_HEADERS, in any case. Pure. */
export function isCredentialHeader(name: string): boolean {
  return NAMES.has(name.toLowerCase());
}

/** `headers` without the credential ones, and the names of those it dropped, as they were spelt. Pure. */
export function withoutCredentials(headers: Readonly<Record<string, string>>): {
  readonly kept: Record<string, string>;
  readonly removed: string[];
} {
  const kept: Record<string, string> = {};
  const removed: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (isCredentialHeader(name)) removed.push(name);
    else kept[name] = value;
  }
  return { kept, removed };
}
