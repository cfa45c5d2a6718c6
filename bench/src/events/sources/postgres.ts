import { secretEnvName } from '@nimbus/gateway';
import { readRawChanges } from '@nimbus/sources/postgres/index';
import type { PostgresServer } from '@nimbus/testkit';
import pg from 'pg';
import type { SourceDriver } from '../source-driver.js';

/**
 * Row inserts of one table, each its own transaction, from a pool of connections; the origin time
 * is the commit time the reader puts in ce-time. The baseline streams the same changes from a slot
 * of its own with a bare replication client that counts pgoutput's change messages.
 */
export function postgresDriver(server: PostgresServer, options: { concurrency?: number } = {}): SourceDriver {
  const lanes = 16;
  let pool: pg.Pool | undefined;
  const name = options.concurrency === undefined ? 'postgres' : `postgres-c${options.concurrency}`;
  const concurrency = options.concurrency === undefined ? '' : `\n    concurrency: ${options.concurrency}`;
  const table = `${name.replace('-', '_')}_events`;
  /** The bare client's own slot and publication (one name for both, as readRawChanges takes them). */
  const bareSlot = `${name.replace('-', '_')}_bare`;
  return {
    name,
    origin: 'ce-time',
    trigger: `- name: db\n  postgres:\n    connection: { name: bench-db, key: url }\n    tables: [public.${table}]${concurrency}`,
    env: { [secretEnvName('bench-db', 'url')]: server.url() },
    saturationEvents: 5_000,
    lanes,
    baselineNote: 'bare pgoutput client on its own slot',
    originPid: () => server.pid,
    async prepare() {
      await server.sql(`CREATE TABLE IF NOT EXISTS ${table} (id bigserial PRIMARY KEY, phase text, n int)`);
    },
    async connect() {
      // Idle connections stay open (pg closes them after 10 s by default): 15 of the 16 fall idle
      // when the paced phase starts, and their backends exiting together 10 s after the burst
      // held PostgreSQL's commits and the walsender for 100-250 ms, mid-phase, in most runs.
      pool = new pg.Pool({ connectionString: server.url(), max: lanes, idleTimeoutMillis: 0 });
    },
    async publish(phase, n) {
      await pool?.query(`INSERT INTO ${table} (phase, n) VALUES ($1, $2)`, [phase, n]);
    },
    async armBaseline() {
      // Two statements on their own: a slot cannot be made in a transaction that wrote.
      await server.sql(`CREATE PUBLICATION ${bareSlot} FOR TABLE ${table}`);
      await server.sql(`SELECT pg_create_logical_replication_slot('${bareSlot}', 'pgoutput')`);
    },
    async baseline(count) {
      try {
        const read = await readRawChanges(server.url(), bareSlot, count, 60_000);
        return (read.changes / read.elapsedMs) * 1000;
      } finally {
        await server.sql(`SELECT pg_drop_replication_slot('${bareSlot}')`);
        await server.sql(`DROP PUBLICATION ${bareSlot}`);
      }
    },
    async close() {
      await pool?.end();
    },
  };
}
