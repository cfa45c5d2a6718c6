import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createLogger } from '@nimbus/api';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { upstream } from './replicas.js';

/** One sample's value in a classic exposition, or undefined when the series is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function startGateway(env: Record<string, string>, routes = new RouteTable()) {
  const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0', NIMBUS_METRICS_PORT: '0', ...env });
  const gateway = createGatewayContainer(config, {
    routes,
    logger: createLogger({}, 'error', () => {}),
  }).resolve<Gateway>(TOKENS.Gateway);
  const base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  const metrics = `http://127.0.0.1:${gateway.metricsAddress?.port}`;
  /** Polls /metrics until `series` has the value `want` says (undefined: no such series). */
  const until = (series: string, want: (value: number | undefined) => boolean, what: string) =>
    eventually(
      async () => {
        const value = sample((await send(metrics, '/metrics')).text, series);
        return want(value) ? { value } : undefined;
      },
      20_000,
      what,
    );
  return { gateway, base, until };
}

describe('async queue and dependency metrics on a real nats-server', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let replica: { server: Server; port: number };
  const waiting: ServerResponse[] = [];

  before(async () => {
    nats = await startNatsServer();
    // The function holds every call until the test lets them finish.
    replica = await upstream((_req: IncomingMessage, res: ServerResponse) => waiting.push(res));
  });

  after(async () => {
    for (const res of waiting.splice(0)) res.end('done');
    replica.server.closeAllConnections();
    await new Promise((r) => replica.server.close(r));
    await nats.stop();
  });

  it('reports the calls stored by function and the oldest one’s age, then an empty queue', async () => {
    const routes = new RouteTable();
    routes.upsert({ name: 'job', namespace: 'default', timeoutMs: 30_000, concurrency: 10, auth: 'none' });
    routes.setEndpoints('default', 'job', [{ id: 'job-0', host: '127.0.0.1', port: replica.port }]);
    const { gateway, base, until } = await startGateway({ NIMBUS_NATS_URL: nats.url }, routes);
    try {
      await until('nimbus_dependency_up{dependency="nats"}', (v) => v === 1, 'NATS up');
      for (let i = 0; i < 3; i++) {
        const accepted = await eventually(
          async () => {
            const reply = await send(base, '/async-function/job', { method: 'POST', body: `call ${i}` });
            return reply.status === 202 ? reply : undefined;
          },
          15_000,
          'the calls stream to take calls',
        );
        assert.equal(accepted.status, 202);
      }
      await until('nimbus_async_queue_depth{function="default/job"}', (v) => v === 3, 'three calls stored');
      const { value: age } = await until(
        'nimbus_async_queue_oldest_age_seconds{stream="NIMBUS_CALLS"}',
        (v) => v !== undefined,
        'an age',
      );
      assert.ok(age !== undefined && age >= 0 && age < 30, `the oldest call is ${age} s old`);
      await eventually(
        () => (waiting.length === 3 ? true : undefined),
        10_000,
        'the calls to reach the function',
      );
      for (const res of waiting.splice(0)) res.end('done');
      // Read at most every 5 s: the cached read goes, and the finished calls with it.
      await until(
        'nimbus_async_queue_depth{function="default/job"}',
        (v) => v === undefined,
        'no call stored',
      );
      await until(
        'nimbus_async_queue_oldest_age_seconds{stream="NIMBUS_CALLS"}',
        (v) => v === 0,
        'an empty queue',
      );
    } finally {
      await gateway.close();
    }
  });

  it('says NATS is down while the server is away, and up once it is back', async () => {
    const { gateway, until } = await startGateway({ NIMBUS_NATS_URL: nats.url });
    try {
      await until('nimbus_dependency_up{dependency="nats"}', (v) => v === 1, 'NATS up');
      await until(
        'nimbus_async_queue_oldest_age_seconds{stream="NIMBUS_CALLS"}',
        (v) => v === 0,
        'an empty queue',
      );
      await nats.pause();
      await until('nimbus_dependency_up{dependency="nats"}', (v) => v === 0, 'NATS down');
      await until(
        'nimbus_async_queue_oldest_age_seconds{stream="NIMBUS_CALLS"}',
        (v) => v === undefined,
        'no stale queue age',
      );
      await nats.resume();
      await until('nimbus_dependency_up{dependency="nats"}', (v) => v === 1, 'NATS up again');
    } finally {
      await gateway.close();
    }
  });
});

describe('Redis reachability on a real redis-server', function () {
  this.timeout(60_000);
  let redis: RedisServer;

  before(async () => {
    redis = await startRedisServer();
  });

  after(async () => {
    await redis.stop();
  });

  it('connects an idle gateway to report Redis up, down while it is stopped, and up again', async () => {
    const { gateway, until } = await startGateway({ NIMBUS_REDIS_URL: redis.url });
    try {
      await until('nimbus_dependency_up{dependency="redis"}', (v) => v === 1, 'Redis up');
      await redis.stop();
      await until('nimbus_dependency_up{dependency="redis"}', (v) => v === 0, 'Redis down');
      await redis.start();
      await until('nimbus_dependency_up{dependency="redis"}', (v) => v === 1, 'Redis up again');
    } finally {
      await gateway.close();
    }
  });

  it('has no series for a dependency the gateway is not configured with', async () => {
    const { gateway, until } = await startGateway({});
    try {
      await until('nimbus_gateway_held_requests', () => true, 'a scrape');
      await until('nimbus_dependency_up{dependency="redis"}', (v) => v === undefined, 'no redis series');
      await until('nimbus_dependency_up{dependency="nats"}', (v) => v === undefined, 'no nats series');
    } finally {
      await gateway.close();
    }
  });
});
