/**
 * Rules that a JSON schema cannot say. Each carries the CEL expression the CRD declares (so
 * the API server enforces it) and the same rule in TypeScript (so local mode, which has no
 * API server, enforces it too). One list (rules.ts) keeps the two from drifting apart; the
 * parts of the spec with rules of their own (routes, auth) declare them beside their schema.
 */
export interface CrossFieldRule {
  /** Schema properties under `spec` to the node the rule sits on ('' is spec); on a list, each item. */
  at: string;
  /** The field the message names, relative to the node; '' names the node. */
  field: string;
  cel: string;
  message: string;
  holds(self: unknown): boolean;
}

/** A rule whose check is written for the node it sits on, typed as `T`. */
export function rule<T>(r: Omit<CrossFieldRule, 'holds'> & { holds(self: T): boolean }): CrossFieldRule {
  return r as CrossFieldRule;
}
