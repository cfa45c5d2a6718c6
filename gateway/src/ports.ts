import type { FunctionResource } from '@nimbus/api';

/*
 * What the gateway needs from the process that hosts it, declared apart from both the parts that
 * use them (the HTTP server, the management API, the async and event workers) and the adapters
 * that provide them (the cluster's informers, local mode's platform), so neither imports the other.
 */

/** Says whether the gateway has what it needs to route (for example its first list of functions). */
export interface Readiness {
  notReadyReason(): string | undefined;
}

/**
 * Where the management API and the workers read Functions from: the cluster, or local mode's
 * folder. The write methods are there when Functions can be changed through the API; without
 * them, writes answer 405 with `readOnlyReason`.
 */
export interface FunctionDirectory {
  list(): FunctionResource[];
  get(namespace: string, name: string): FunctionResource | undefined;
  /** Set when Functions cannot be changed through the API, saying where to change them. */
  readonly readOnlyReason?: string;
  /** Creates the Function; resolves with what the store kept (defaults applied). */
  create?(fn: FunctionResource): Promise<FunctionResource>;
  /** Replaces the Function; a `metadata.resourceVersion` in `fn` makes the write conditional. */
  replace?(namespace: string, name: string, fn: FunctionResource): Promise<FunctionResource>;
  remove?(namespace: string, name: string): Promise<void>;
  /**
   * Reads the Function as it stands now, changes it with `change`, and writes it back only if
   * nothing else wrote it meanwhile, reading again when something did. For writes that change
   * a part and keep the rest (OpenFaaS's scale and update).
   */
  modify?(
    namespace: string,
    name: string,
    change: (fn: FunctionResource) => FunctionResource,
  ): Promise<FunctionResource>;
}

/**
 * Ports the host's own processes listen on on this machine now (local mode: every replica and
 * warm pool process). The egress policy refuses them to caller-steered requests, even where it
 * lets loopback through.
 */
export interface LocalListeners {
  ports(): Iterable<number>;
}
