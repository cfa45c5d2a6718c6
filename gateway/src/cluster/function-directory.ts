import type { FunctionResource } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isConflict } from '@nimbus/kube';
import { inject, injectable } from 'tsyringe';
import { problems } from '../http/problems.js';
import type { FunctionDirectory } from '../ports.js';
import { TOKENS } from '../tokens.js';

/** The Function informers' cache: reads never go to the API server. */
export interface FunctionCache {
  list(): FunctionResource[];
  get(namespace: string, name: string): FunctionResource | undefined;
}

/** The API calls the directory writes with. */
export type FunctionWrites = Pick<KubeClient, 'get' | 'create' | 'replace' | 'delete'>;

/** Which namespaces this gateway serves; undefined for all of them. */
export interface WatchScope {
  readonly watchNamespaces: readonly string[] | undefined;
}

/** A replace without a resourceVersion is retried this often when another writer gets in between. */
const UNCONDITIONAL_ATTEMPTS = 3;

type Fn = FunctionResource & KubeObject;

/** Without `managedFields`: server-side apply's bookkeeping, which kubectl hides too. */
function forReaders(fn: FunctionResource): FunctionResource {
  const { managedFields: _, ...metadata } = fn.metadata as FunctionResource['metadata'] & {
    managedFields?: unknown;
  };
  return { ...fn, metadata };
}

/**
 * The management API's view of the cluster's Functions. Lists and gets read the informers'
 * cache, so they cost the API server nothing; writes go to the API server, and answer with what
 * it stored. Errors are the API server's (KubeApiError), mapped to HTTP in http/problems.ts.
 */
@injectable()
export class KubernetesFunctionDirectory implements FunctionDirectory {
  constructor(
    @inject(TOKENS.FunctionInformers) private readonly cache: FunctionCache,
    @inject(TOKENS.KubeClient) private readonly client: FunctionWrites,
    @inject(TOKENS.ClusterConfig) private readonly scope: WatchScope,
  ) {}

  list(): FunctionResource[] {
    return this.cache
      .list()
      .map(forReaders)
      .sort(
        (a, b) =>
          a.metadata.namespace.localeCompare(b.metadata.namespace) ||
          a.metadata.name.localeCompare(b.metadata.name),
      );
  }

  get(namespace: string, name: string): FunctionResource | undefined {
    const fn = this.cache.get(namespace, name);
    return fn === undefined ? undefined : forReaders(fn);
  }

  /** The informers' copy: its status is as cheap as its spec here. */
  declared(namespace: string, name: string): FunctionResource | undefined {
    return this.cache.get(namespace, name);
  }

  async create(fn: FunctionResource): Promise<FunctionResource> {
    this.checkWatched(fn.metadata.namespace);
    return forReaders(await this.client.create<Fn>(RESOURCES.functions, fn as Fn));
  }

  /**
   * With a resourceVersion, the write holds only if nothing changed since (409 otherwise). Without
   * one it means "whatever is there now": the API server refuses an unconditional update of a
   * custom resource, so the current version is read and the write retried if it moves meanwhile.
   */
  async replace(namespace: string, name: string, fn: FunctionResource): Promise<FunctionResource> {
    this.checkWatched(namespace);
    if (fn.metadata.resourceVersion !== undefined)
      return forReaders(await this.client.replace<Fn>(RESOURCES.functions, fn as Fn));
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.get<Fn>(RESOURCES.functions, namespace, name);
      const versioned = {
        ...fn,
        metadata: { ...fn.metadata, resourceVersion: current.metadata.resourceVersion },
      };
      try {
        return forReaders(await this.client.replace<Fn>(RESOURCES.functions, versioned as Fn));
      } catch (err) {
        if (!isConflict(err) || attempt >= UNCONDITIONAL_ATTEMPTS) throw err;
      }
    }
  }

  async modify(
    namespace: string,
    name: string,
    change: (fn: FunctionResource) => FunctionResource,
  ): Promise<FunctionResource> {
    this.checkWatched(namespace);
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.get<Fn>(RESOURCES.functions, namespace, name);
      const changed = change(forReaders(current));
      // The version read: the write holds only if nothing wrote the Function since.
      const versioned = {
        ...changed,
        metadata: { ...changed.metadata, resourceVersion: current.metadata.resourceVersion },
      };
      try {
        return forReaders(await this.client.replace<Fn>(RESOURCES.functions, versioned as Fn));
      } catch (err) {
        if (!isConflict(err) || attempt >= UNCONDITIONAL_ATTEMPTS) throw err;
      }
    }
  }

  async remove(namespace: string, name: string): Promise<void> {
    this.checkWatched(namespace);
    await this.client.delete(RESOURCES.functions, namespace, name);
  }

  /** A Function this gateway does not watch would never be routed or listed here. */
  private checkWatched(namespace: string): void {
    const watched = this.scope.watchNamespaces;
    if (watched !== undefined && !watched.includes(namespace))
      throw problems.namespaceNotWatched(namespace, watched);
  }
}
