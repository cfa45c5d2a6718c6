import { createHash } from 'node:crypto';
import type { PostgresOperation, ResolvedSource } from '@nimbus/api';
import { TABLE_PATTERN } from '@nimbus/api/trigger-schema';
import { SourceConfigError } from '../source.js';

/** What a trigger without `operations` reads, in the order a publication's `publish` names them. */
export const ALL_OPERATIONS: readonly PostgresOperation[] = ['insert', 'update', 'delete'];

/** A table the trigger reads, split into its schema and name. */
export interface TableName {
  readonly schema: string;
  readonly table: string;
}

/** `spec.triggers[<name>].postgres`: where errors about the trigger's spec point. */
export function specField(source: Pick<ResolvedSource, 'name'>, field: string): string {
  return `spec.triggers[${source.name}].postgres.${field}`;
}

/**
 * The replication slot's and the publication's name: `nimbus_` and 40 hex digits of a hash of
 * namespace/function/trigger. Deterministic, so every gateway and the controller agree on it
 * without keeping it anywhere; 47 characters, inside PostgreSQL's 63; and only [a-z0-9_], as a
 * slot name must be.
 */
export function slotName(source: Pick<ResolvedSource, 'namespace' | 'function' | 'name'>): string {
  const digest = createHash('sha256')
    .update(`${source.namespace}\0${source.function}\0${source.name}`)
    .digest('hex');
  return `nimbus_${digest.slice(0, 40)}`;
}

const TABLE = new RegExp(TABLE_PATTERN);

/**
 * `schema.table` or `table` (the public schema). The schema already limits both to plain lower-case
 * identifiers; this checks again, so a spec that skipped validation cannot reach the SQL.
 */
export function parseTables(source: ResolvedSource<'postgres'>): TableName[] {
  const tables = source.spec.tables;
  if (!Array.isArray(tables) || tables.length === 0)
    throw new SourceConfigError(specField(source, 'tables'), 'names no table');
  return tables.map((name, i) => {
    if (typeof name !== 'string' || !TABLE.test(name))
      throw new SourceConfigError(
        specField(source, `tables[${i}]`),
        `${JSON.stringify(String(name).slice(0, 80))} is not schema.table or table (lower-case letters, digits, _ and $)`,
      );
    const dot = name.indexOf('.');
    return dot < 0
      ? { schema: 'public', table: name }
      : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
  });
}

/** An identifier in double quotes, inner quotes doubled: safe in SQL whatever it holds. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteTable(name: TableName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.table)}`;
}
