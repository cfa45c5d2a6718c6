import type { PostgresOperation, ResolvedSource } from '@nimbus/api';
import type pg from 'pg';
import { type SecretReader, SourceConfigError, type SourceProvisioner } from '../source.js';
import { type PostgresTarget, connectClient, describeError, readTarget } from './connection.js';
import {
  ALL_OPERATIONS,
  type TableName,
  parseTables,
  quoteIdent,
  quoteTable,
  slotName,
  specField,
} from './names.js';

/** SQLSTATEs that say the trigger's configuration is wrong, not that the server is away. */
const CONFIG_ERRORS = new Set([
  '28P01', // invalid_password
  '28000', // invalid_authorization_specification (no pg_hba entry, no such role)
  '3D000', // invalid_catalog_name: no such database
  '42501', // insufficient_privilege: may not create the publication, or does not own a table
]);
const DUPLICATE_OBJECT = '42710';
const OBJECT_IN_USE = '55006';

/**
 * Makes what a trigger reads through: a publication of its tables and operations, and a logical
 * replication slot (pgoutput), both named slotName(trigger). The publication comes first: a slot
 * decodes with the catalog as it was at each change, so a publication made after the slot would be
 * missing for the changes in between.
 */
export const postgresProvisioner: SourceProvisioner<'postgres'> = {
  async ensure(source, secrets) {
    const tables = parseTables(source);
    const operations = parseOperations(source);
    await withClient(source, secrets, async (client, target) => {
      await checkReplicationRole(client, source);
      await checkTables(client, source, tables, target);
      await convergePublication(client, slotName(source), tables, operations);
      await ensureSlot(client, slotName(source));
    });
  },

  async remove(source, secrets) {
    await withClient(source, secrets, async (client) => {
      const name = slotName(source);
      await dropSlot(client, name);
      await client.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
    });
  },
};

function parseOperations(source: ResolvedSource<'postgres'>): PostgresOperation[] {
  const operations = source.spec.operations ?? ALL_OPERATIONS;
  if (operations.length === 0)
    throw new SourceConfigError(specField(source, 'operations'), 'names no operation');
  operations.forEach((op, i) => {
    if (!ALL_OPERATIONS.includes(op))
      throw new SourceConfigError(
        specField(source, `operations[${i}]`),
        `${JSON.stringify(String(op).slice(0, 20))} is not insert, update or delete`,
      );
  });
  return ALL_OPERATIONS.filter((op) => operations.includes(op));
}

/** Runs `work` on a plain connection; errors come out without credentials, configuration ones as SourceConfigError. */
async function withClient(
  source: ResolvedSource<'postgres'>,
  secrets: SecretReader,
  work: (client: pg.Client, target: PostgresTarget) => Promise<void>,
): Promise<void> {
  const target = await readTarget(source, secrets);
  let client: pg.Client | undefined;
  try {
    client = await connectClient(target, { replication: false });
    await work(client, target);
  } catch (err) {
    if (err instanceof SourceConfigError) throw err;
    const code = (err as { code?: unknown }).code;
    const message = describeError(target, err);
    if (typeof code === 'string' && CONFIG_ERRORS.has(code))
      throw new SourceConfigError(specField(source, 'connection'), `${target.source}: ${message}`);
    throw new Error(`${target.source}: ${message}`);
  } finally {
    await client?.end().catch(() => {});
  }
}

async function checkReplicationRole(client: pg.Client, source: ResolvedSource<'postgres'>): Promise<void> {
  const { rows } = await client.query<{ role: string; ok: boolean }>(
    'SELECT rolname AS role, rolreplication OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user',
  );
  const row = rows[0];
  if (row?.ok !== true)
    throw new SourceConfigError(
      specField(source, 'connection'),
      `the role ${JSON.stringify(row?.role ?? '?')} lacks the REPLICATION attribute (ALTER ROLE … REPLICATION), which a logical replication slot needs`,
    );
}

async function checkTables(
  client: pg.Client,
  source: ResolvedSource<'postgres'>,
  tables: readonly TableName[],
  target: PostgresTarget,
): Promise<void> {
  for (const [i, table] of tables.entries()) {
    const { rowCount } = await client.query(
      `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [table.schema, table.table],
    );
    if (rowCount === 0)
      throw new SourceConfigError(
        specField(source, `tables[${i}]`),
        `the table ${table.schema}.${table.table} does not exist in ${target.source}`,
      );
  }
}

async function convergePublication(
  client: pg.Client,
  name: string,
  tables: readonly TableName[],
  operations: readonly PostgresOperation[],
): Promise<void> {
  const tableList = tables.map(quoteTable).join(', ');
  const publish = `publish = '${operations.join(', ')}'`;
  const existing = await client.query<{ pubinsert: boolean; pubupdate: boolean; pubdelete: boolean }>(
    'SELECT pubinsert, pubupdate, pubdelete FROM pg_publication WHERE pubname = $1',
    [name],
  );
  const current = existing.rows[0];
  if (current === undefined) {
    try {
      await client.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tableList} WITH (${publish})`);
      return;
    } catch (err) {
      // Another gateway or the controller made it a moment ago: converge theirs.
      if ((err as { code?: unknown }).code !== DUPLICATE_OBJECT) throw err;
      return convergePublication(client, name, tables, operations);
    }
  }
  const published = await client.query<{ schemaname: string; tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
    [name],
  );
  const want = new Set(tables.map((t) => `${t.schema}.${t.table}`));
  const have = new Set(published.rows.map((r) => `${r.schemaname}.${r.tablename}`));
  if (want.size !== have.size || [...want].some((t) => !have.has(t)))
    await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${tableList}`);
  const flags = { insert: current.pubinsert, update: current.pubupdate, delete: current.pubdelete };
  if (ALL_OPERATIONS.some((op) => flags[op] !== operations.includes(op)))
    await client.query(`ALTER PUBLICATION ${quoteIdent(name)} SET (${publish})`);
}

async function ensureSlot(client: pg.Client, name: string): Promise<void> {
  const { rows } = await client.query<{ plugin: string | null; here: boolean }>(
    'SELECT plugin, database = current_database() AS here FROM pg_replication_slots WHERE slot_name = $1',
    [name],
  );
  const slot = rows[0];
  if (slot !== undefined && slot.plugin === 'pgoutput' && slot.here) return;
  // A slot of this name for another database or plugin (the connection moved): it reads nothing of ours.
  if (slot !== undefined) await dropSlot(client, name);
  try {
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [name]);
  } catch (err) {
    if ((err as { code?: unknown }).code !== DUPLICATE_OBJECT) throw err;
  }
}

/** Drops the slot, ending the walsender that holds it (a gateway still reading); gone already is fine. */
async function dropSlot(client: pg.Client, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await client.query(
      `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
        WHERE slot_name = $1 AND active_pid IS NOT NULL`,
      [name],
    );
    try {
      await client.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [name],
      );
      return;
    } catch (err) {
      // The walsender was told to end but has not yet let go of the slot: a moment more.
      if ((err as { code?: unknown }).code !== OBJECT_IN_USE || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
