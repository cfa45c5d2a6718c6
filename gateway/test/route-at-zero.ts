import type { Clock } from '@nimbus/api';
import { systemClock } from '@nimbus/api';
import { RouteTable } from '../src/routing/route-table.js';

/**
 * A route table holding one function, `team/hello`, with no ready replica yet: what the tests of
 * early endpoints (provisional ones, the wake answer's, the prober's) start from. `hold(name)`
 * holds a request on it that writes `name` into `released` when it goes, `dropped: why` if not.
 */
export function routeAtZero(clock: Clock = systemClock) {
  const routes = new RouteTable(clock);
  const route = routes.upsert({
    name: 'hello',
    namespace: 'team',
    timeoutMs: 1000,
    concurrency: 1,
    auth: 'none',
  });
  routes.setEndpoints('team', 'hello', [], 'the function has no ready replicas yet');
  const released: string[] = [];
  const hold = (name = 'held') =>
    route.held.add({
      release: () => released.push(name),
      drop: (why) => released.push(`dropped: ${why}`),
    });
  return { routes, route, released, hold };
}
