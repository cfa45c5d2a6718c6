import type { Logger } from '@nimbus/api';
import { Counter, type Registry } from 'prom-client';
import type { EndpointAddress, FunctionRoute } from '../routing/route-table.js';
import { endpointId } from './endpoint-slice.js';

/** Where the table takes replicas it knows of before their EndpointSlice (RouteTable). */
export interface ProvisionalRoutes {
  addProvisional(namespace: string, name: string, address: EndpointAddress): boolean;
}

/** How the gateway learned of a replica before its slice: a wake's answer, or its own probe. */
export type EarlyVia = 'wake' | 'probe';

/**
 * Replicas the gateway sends requests to before any EndpointSlice lists them ready: a pool pod
 * a wake's answer named, a new pod the gateway's own probe found ready. They join the route as
 * provisional endpoints (see ProvisionalEndpoints) and are counted, so how often the fast path
 * wins over the slice shows.
 */
export class EarlyEndpoints {
  private readonly added: Counter<'via'>;

  constructor(
    private readonly routes: ProvisionalRoutes,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.added = new Counter({
      name: 'nimbus_gateway_early_endpoints_total',
      help: 'Replicas this gateway sent requests to before an EndpointSlice listed them ready: named by a wake answer (a pool pod) or found ready by its own probe (a new pod).',
      labelNames: ['via'],
      registers: [registry],
    });
  }

  offer(
    route: Pick<FunctionRoute, 'namespace' | 'name' | 'key'>,
    host: string,
    port: number,
    via: EarlyVia,
  ): void {
    const address = { id: endpointId(host, port), host, port };
    if (!this.routes.addProvisional(route.namespace, route.name, address)) return;
    this.added.inc({ via });
    this.log.debug('a replica before its slice', { function: route.key, endpoint: address.id, via });
  }
}
