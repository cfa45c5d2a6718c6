import type { FunctionResource, Logger } from '@nimbus/api';
import type { InformerEvent } from '@nimbus/kube';
import { inject, injectable } from 'tsyringe';
import type { EndpointAddress, RouteTable } from '../routing/route-table.js';
import { TOKENS } from '../tokens.js';
import { loadFailedOf, routeSettingsOf, unavailableReasonOf } from './function-route.js';

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
 * the reason from its status, so a caller's 503 says what is wrong.
 */
@injectable()
export class FunctionSource {
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
    this.publish(namespace, name);
  }

  /** Gives the route its current replicas; nothing to do until the Function itself is known. */
  private publish(namespace: string, name: string): void {
    const fn = this.functions.get(namespace, name);
    if (fn === undefined) return;
    const ready = this.endpoints.endpointsOf(namespace, name);
    this.routes.setEndpoints(namespace, name, ready, unavailableReasonOf(fn), loadFailedOf(fn));
    this.log.debug('endpoints changed', { function: `${namespace}/${name}`, ready: ready.length });
  }
}
