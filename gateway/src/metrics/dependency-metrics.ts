import type { MessageBus } from '@nimbus/bus';
import type { RedisConnection } from '@nimbus/store';
import { Gauge, type Registry } from 'prom-client';

/** The gateway's connections to what it depends on; each absent when not configured. */
export interface Dependencies {
  /** The NATS bus once connected; undefined before (then NATS counts as unreachable). */
  nats?: () => MessageBus | undefined;
  redis?: RedisConnection;
}

/**
 * `nimbus_dependency_up{dependency}`: 1 while the gateway's connection to Redis or NATS is up,
 * 0 while it is down, as the clients' connection events left it (read when scraped, so it costs
 * nothing in between). A dependency the gateway is not configured with has no series.
 */
export class DependencyMetrics {
  constructor(registry: Registry, dependencies: Dependencies) {
    const { nats, redis } = dependencies;
    new Gauge({
      name: 'nimbus_dependency_up',
      help: "1 while the gateway's connection to a dependency (redis, nats) is up, else 0.",
      labelNames: ['dependency'],
      registers: [registry],
      collect() {
        if (nats !== undefined) this.set({ dependency: 'nats' }, nats()?.reachable === true ? 1 : 0);
        if (redis !== undefined) {
          // Redis is connected on first use, and found healthy again by a command that succeeds: an
          // idle gateway's scrape sends a PING when it has not seen one, so the next scrape knows.
          if (!redis.reachable) redis.probe();
          this.set({ dependency: 'redis' }, redis.reachable ? 1 : 0);
        }
      },
    });
  }
}
