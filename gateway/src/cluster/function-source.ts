import {
  type FunctionResource,
  type Logger,
  functionKey,
  isVersioned,
  splitVersionRoute,
  versionRouteName,
} from '@nimbus/api';
import type { InformerEvent } from '@nimbus/kube';
import { inject, injectable } from 'tsyringe';
import type { EndpointAddress, RouteTable } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';
import { NOT_READY_YET, loadFailedOf, routeSettingsOf, unavailableReasonOf } from './function-route.js';

/** The Function informers, as far as routing needs them. */
export interface FunctionEvents {
  on(handler: (event: InformerEvent<FunctionResource>) => void): unknown;
  get(namespace: string, name: string): FunctionResource | undefined;
}

/** A function's ready replicas, and word when they change. */
export interface EndpointLookup {
  endpointsOf(namespace: string, name: string): EndpointAddress[];
  onChange(listener: (namespace: string, name: string) => void): void;
}

/**
 * Keeps the route table in step with the cluster's Functions: a route per Function, with the
 * settings from its spec, the ready replicas from its EndpointSlices, and, while none is ready,
 * the reason from its status, so a caller's 503 says what is wrong. A versioned Function
 * (spec.versions) also gets a route per version its status.traffic names, `fn@vN`, fed by that
 * version's Service's slices, and its traffic split; its own route keeps auth, rate limit and
 * http routes, and has no replicas of its own.
 */
@injectable()
export class FunctionSource {
  /** Per versioned Function key: the versions it has routes for. */
  private readonly versionRoutes = new Map<string, Set<string>>();

  constructor(
    @inject(TOKENS.FunctionInformers) private readonly functions: FunctionEvents,
    @inject(TOKENS.EndpointSliceSource) private readonly endpoints: EndpointLookup,
    @inject(TOKENS.RouteTable) private readonly routes: RouteTable,
    @inject(TOKENS.Logger) private readonly log: Logger,
  ) {
    functions.on((event) => this.apply(event));
    endpoints.onChange((namespace, name) => this.publish(namespace, name));
  }

  private apply(event: InformerEvent<FunctionResource>): void {
    const { namespace, name } = event.object.metadata;
    if (event.type === 'deleted') {
      this.setVersions(event.object, []);
      this.routes.remove(namespace, name);
      this.log.info('function removed', { function: `${namespace}/${name}` });
      return;
    }
    const settings = routeSettingsOf(event.object);
    this.routes.upsert(settings);
    // Every gateway hands conflicting routes out by the controller's rule, from the same
    // Functions; one being deleted gives its routes up at once, as in the controller's claims.
    const { creationTimestamp, deletionTimestamp } = event.object.metadata;
    const httpRoutes = deletionTimestamp === undefined ? event.object.spec?.http?.routes : undefined;
    this.routes.http.set(`${namespace}/${name}`, creationTimestamp, httpRoutes);
    if (event.type === 'added') this.log.info('function added', { function: `${namespace}/${name}` });
    if (isVersioned(event.object.spec ?? {})) {
      const key = functionKey(namespace, name);
      // All in one turn: no call picks a version between the split and its route.
      const traffic = event.object.status?.traffic;
      const split = this.routes.versions.set(key, traffic);
      if (split === undefined && traffic !== undefined && traffic.length > 0)
        this.log.warn('ignored a traffic status that is no valid split', { function: key });
      const versions = split === undefined ? [] : [...split.shares().keys()];
      for (const version of versions)
        this.routes.upsert({ ...settings, name: versionRouteName(name, version) });
      this.setVersions(event.object, versions);
    } else {
      this.setVersions(event.object, []);
      this.routes.versions.remove(functionKey(namespace, name));
    }
    this.publish(namespace, name);
    for (const version of this.versionRoutes.get(functionKey(namespace, name)) ?? [])
      this.publish(namespace, versionRouteName(name, version));
  }

  /** Keeps routes for `versions` of the Function and removes those of any other version. */
  private setVersions(fn: FunctionResource, versions: readonly string[]): void {
    const { namespace, name } = fn.metadata;
    const key = functionKey(namespace, name);
    const before = this.versionRoutes.get(key) ?? new Set<string>();
    for (const version of before)
      if (!versions.includes(version)) this.routes.remove(namespace, versionRouteName(name, version));
    if (versions.length === 0) this.versionRoutes.delete(key);
    else this.versionRoutes.set(key, new Set(versions));
  }

  /**
   * Gives a route its current replicas; nothing to do until the Function itself is known. A
   * versioned Function's own route has none: its versions' routes have them.
   */
  private publish(namespace: string, name: string): void {
    const version = splitVersionRoute(name);
    const fn = this.functions.get(namespace, version?.functionName ?? name);
    if (fn === undefined) return;
    const ready = this.endpoints.endpointsOf(namespace, name);
    if (version !== undefined) {
      if (!this.versionRoutes.get(functionKey(namespace, version.functionName))?.has(version.version)) return;
      // A version's own readiness is not in the Function's conditions, which speak of the latest.
      this.routes.setEndpoints(namespace, name, ready, NOT_READY_YET, false);
    } else if (isVersioned(fn.spec ?? {}))
      this.routes.setEndpoints(namespace, name, [], NOT_READY_YET, false);
    else this.routes.setEndpoints(namespace, name, ready, unavailableReasonOf(fn), loadFailedOf(fn));
    this.log.debug('endpoints changed', { function: `${namespace}/${name}`, ready: ready.length });
  }
}
