import type { FunctionResource } from '@nimbus/api';

/*
 * What the gateway needs from the process that hosts it, declared apart from both the parts that
 * use them (the HTTP server, the management API, the async and event workers) and the adapters
 * that provide them (the cluster's informers, local mode's platform), so neither imports the other.
 */

/** What `GET /system/info` says of the gateway: given by the process that hosts it. */
export interface SystemInfo {
  version: string;
  mode: 'local' | 'kubernetes';
}

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
  /** The Function with its status as it stands now. */
  get(namespace: string, name: string): FunctionResource | undefined;
  /**
   * The Function as declared (metadata and spec; its status may be absent or old), where that
   * is cheaper than get(): local mode composes a status on get(). Read it with declaredFunction().
   */
  declared?(namespace: string, name: string): FunctionResource | undefined;
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
 * The Function's metadata and spec, for the paths every call or event takes (which need no
 * status): a directory's declared() where it has one, get() otherwise.
 */
export function declaredFunction(
  directory: Pick<FunctionDirectory, 'get' | 'declared'>,
  namespace: string,
  name: string,
): FunctionResource | undefined {
  return directory.declared === undefined
    ? directory.get(namespace, name)
    : directory.declared(namespace, name);
}

/**
 * Ports the host's own processes listen on on this machine now (local mode: every replica and
 * warm pool process). The egress policy refuses them to caller-steered requests, even where it
 * lets loopback through.
 */
export interface LocalListeners {
  ports(): Iterable<number>;
}

/** One line a function's replica wrote, as the logs API hands it out (OpenFaaS's log message). */
export interface FunctionLogLine {
  name: string;
  namespace: string;
  /** The replica that wrote it: a pod's name, or a local replica's id. */
  instance: string;
  /** When it was written, RFC 3339 with fractions. */
  timestamp: string;
  text: string;
}

export interface LogQuery {
  /** Only lines written at or after this time. */
  since?: Date;
  /** At most this many of the newest lines already written; unset: all that are kept. */
  tail?: number;
  /** Keep the stream open and send lines as they are written, until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
}

/**
 * Where a function's log lines come from: local mode's buffers of its replicas' output, or the
 * API server's pod log endpoint in a cluster. Lines of several replicas come in the order they
 * arrive; each replica's own in the order it wrote them.
 */
export interface FunctionLogs {
  /** Rejects when the lines cannot be read at all (before anything is sent to the caller). */
  open(namespace: string, name: string, query: LogQuery): Promise<AsyncIterable<FunctionLogLine>>;
}
