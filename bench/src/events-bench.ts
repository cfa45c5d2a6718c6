import { rm } from 'node:fs/promises';
import { functionsFolder } from '@nimbus/test/harness/fixtures';
import {
  type MosquittoServer,
  type NatsServer,
  type PostgresServer,
  type RabbitMqServer,
  type RedisServer,
  type S3Server,
  freePort,
  startMosquittoServer,
  startNatsServer,
  startPostgresServer,
  startRabbitMqServer,
  startRedisServer,
  startS3Server,
} from '@nimbus/testkit';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { type LocalGateway, startLocalGateway } from './events/local-gateway.js';
import { PACED_RATE_PER_S, type SourceResult, measureSource } from './events/measure.js';
import { recorderFunction } from './events/recorder.js';
import { EVENTS_TARGETS, type SourceFailure, eventsReport, passes } from './events/report.js';
import type { SourceDriver } from './events/source-driver.js';
import { mqttDriver } from './events/sources/mqtt.js';
import { natsDriver } from './events/sources/nats.js';
import { postgresDriver } from './events/sources/postgres.js';
import { rabbitMqDriver } from './events/sources/rabbitmq.js';
import { s3NotifyDriver, s3NotifyLiveDriver } from './events/sources/s3-notify.js';
import { s3PollDriver } from './events/sources/s3.js';
import { webhookDriver } from './events/sources/webhook.js';
import type { Children } from './processes.js';

const ADMIN_KEY = 'bench-admin-key-0123456789';

interface Servers {
  redis?: RedisServer;
  nats?: NatsServer;
  postgres?: PostgresServer;
  rabbit?: RabbitMqServer;
  mosquitto?: MosquittoServer;
  s3?: S3Server;
}

/** Every origin on loopback, started here; whatever started is stopped even when another failed. */
async function startServers(servers: Servers): Promise<Required<Servers>> {
  const started = await Promise.allSettled([
    startRedisServer().then((s) => {
      servers.redis = s;
    }),
    startNatsServer().then((s) => {
      servers.nats = s;
    }),
    startPostgresServer().then((s) => {
      servers.postgres = s;
    }),
    startRabbitMqServer().then((s) => {
      servers.rabbit = s;
    }),
    startMosquittoServer({ maxQueuedMessages: 50_000 }).then((s) => {
      servers.mosquitto = s;
    }),
    startS3Server().then((s) => {
      servers.s3 = s;
    }),
  ]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return servers as Required<Servers>;
}

function stopServers(servers: Servers): Promise<unknown> {
  return Promise.allSettled(
    [servers.redis, servers.nats, servers.postgres, servers.rabbit, servers.mosquitto, servers.s3].map((s) =>
      s?.stop(),
    ),
  );
}

async function run(children: Children): Promise<BenchReport> {
  const servers: Servers = {};
  let dir: string | undefined;
  let gateway: LocalGateway | undefined;
  try {
    progress('starting redis, nats, postgres, rabbitmq, mosquitto and versitygw on loopback');
    const s = await startServers(servers);
    // The NATS trigger first: the existing path the sources are compared with.
    let drivers: SourceDriver[] = [
      natsDriver(s.nats),
      webhookDriver(),
      rabbitMqDriver(s.rabbit),
      mqttDriver(s.mosquitto),
      postgresDriver(s.postgres),
      postgresDriver(s.postgres, { concurrency: 16 }),
      s3NotifyDriver(s.s3),
      s3NotifyLiveDriver(await freePort(), s.s3),
      // The poller last: it lists its bucket every 100 ms, which would load the rows after it.
      s3PollDriver(s.s3, s.redis),
    ];
    // NIMBUS_BENCH_EVENTS_SOURCES=postgres,s3-poll: only these rows (a focused look at one source).
    const only = process.env.NIMBUS_BENCH_EVENTS_SOURCES?.split(',').filter((name) => name !== '');
    if (only !== undefined && only.length > 0) {
      const unknown = only.filter((name) => !drivers.some((d) => d.name === name));
      if (unknown.length > 0)
        throw new Error(`NIMBUS_BENCH_EVENTS_SOURCES names no source ${unknown.join(', ')}`);
      drivers = drivers.filter((d) => only.includes(d.name));
    }
    for (const driver of drivers) await driver.prepare();
    dir = await functionsFolder(
      Object.fromEntries(
        drivers.map((d) => [`${d.name}.yaml`, recorderFunction(d.name, d.origin, d.trigger)]),
      ),
    );
    progress(`starting local mode with ${drivers.length} recorder functions`);
    gateway = await startLocalGateway(children, dir, {
      NIMBUS_REDIS_URL: s.redis.url,
      NIMBUS_NATS_URL: s.nats.url,
      NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
      NIMBUS_WARM_POOL_SIZE: '0',
      ...Object.assign({}, ...drivers.map((d) => d.env)),
    });
    const results: SourceResult[] = [];
    // A source that fails is reported with why, and the others still run.
    const failures: SourceFailure[] = [];
    for (const driver of drivers) {
      try {
        results.push(
          await measureSource(driver, gateway, {
            gateway: gateway.child.pid as number,
            nats: s.nats.pid as number,
          }),
        );
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        failures.push({ source: driver.name, error: why, gatewaySaid: gateway.complaints() });
      }
    }
    return {
      text: eventsReport(results, failures),
      result: {
        targets: EVENTS_TARGETS,
        pacedRatePerS: PACED_RATE_PER_S,
        sources: results.map((r) => ({ ...r, pass: passes(r) })),
        failures,
        setup:
          'one local-mode process (gateway and source readers) with one single-replica recorder function per ' +
          'source; redis-server, nats-server (JetStream), postgres, rabbitmq-server, mosquitto and versitygw on loopback',
      },
    };
  } finally {
    await gateway?.stop();
    await stopServers(servers);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

export const eventsBenchmark: Benchmark = {
  name: 'events',
  description:
    'each event source end to end through local mode: events/s beside a bare client, and latency at 200 events/s',
  limitMs: 540_000,
  run,
};
