import type { Scope } from '../config.js';
import { type Problem, problems } from '../http/problems.js';
import { type ApiKeyVerifier, bearerToken } from './api-keys.js';

/** Returns undefined when the request's key carries `scope`, or the problem to answer with. */
export function checkScope(
  keys: ApiKeyVerifier,
  authorization: string | undefined,
  scope: Scope,
): Problem | undefined {
  const token = bearerToken(authorization);
  if (token === undefined) return problems.unauthenticated();
  const scopes = keys.scopesOf(token);
  if (scopes === undefined) return problems.unauthenticated();
  return scopes.has(scope) ? undefined : problems.forbidden(scope);
}
