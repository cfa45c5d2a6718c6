import type { PostgresOperation } from '@nimbus/api';
import type { SourceEvent } from '../source.js';
import { formatLsn, pgTimeToMs } from './lsn.js';
import { type PgOutputMessage, ProtocolError, type RelationColumn, type TupleValue } from './pgoutput.js';
import { type Row, toRow } from './values.js';

interface Relation {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly RelationColumn[];
}

/** What one pgoutput message means to the reader. */
export type ChangeStep =
  | { readonly kind: 'begin' }
  | { readonly kind: 'event'; readonly event: SourceEvent }
  /** `endLsn`: where the transaction's commit record ends, the position to confirm once it is stored. */
  | { readonly kind: 'commit'; readonly endLsn: bigint }
  | { readonly kind: 'none' };

const encoder = new TextEncoder();

/**
 * Turns one replication session's pgoutput messages into events: one per row change, in commit
 * order. An event's id is `<commit LSN>:<index in its transaction>`, the same each time the slot
 * gives the transaction again, so the durable path drops the copies. Relations are per session:
 * a walsender sends each table's Relation before its first change, and again after it changes.
 */
export class ChangeDecoder {
  private readonly relations = new Map<number, Relation>();
  private transaction: { lsn: string; time: number; index: number } | undefined;

  constructor(
    /** `postgres://host:port/db`, the events' source. */
    private readonly source: string,
    private readonly operations: ReadonlySet<PostgresOperation>,
  ) {}

  take(message: PgOutputMessage): ChangeStep {
    switch (message.tag) {
      case 'begin':
        this.transaction = {
          lsn: formatLsn(message.finalLsn),
          time: pgTimeToMs(message.commitTime),
          index: 0,
        };
        return { kind: 'begin' };
      case 'commit':
        this.transaction = undefined;
        return { kind: 'commit', endLsn: message.endLsn };
      case 'relation':
        this.relations.set(message.oid, message);
        return { kind: 'none' };
      case 'insert':
        return this.change('insert', message.relation, message.new, undefined);
      case 'update':
        return this.change('update', message.relation, message.new, message.old);
      case 'delete':
        return this.change('delete', message.relation, undefined, message.old);
      case 'other':
        return { kind: 'none' };
    }
  }

  private change(
    operation: PostgresOperation,
    relationOid: number,
    newTuple: readonly TupleValue[] | undefined,
    oldTuple: { kind: 'key' | 'full'; values: readonly TupleValue[] } | undefined,
  ): ChangeStep {
    const transaction = this.transaction;
    if (transaction === undefined)
      throw new ProtocolError(`a pgoutput ${operation} came outside a transaction`);
    const relation = this.relations.get(relationOid);
    if (relation === undefined)
      throw new ProtocolError(`a pgoutput ${operation} names relation ${relationOid}, not described before`);
    // Counted before the filter: an operation left out keeps the ids of the rest where they were.
    const index = transaction.index++;
    if (!this.operations.has(operation)) return { kind: 'none' };
    const row = (tuple: readonly TupleValue[], keyOnly: boolean): Row => {
      if (tuple.length !== relation.columns.length)
        throw new ProtocolError(
          `a pgoutput ${operation} of ${relation.schema}.${relation.table} has ${tuple.length} columns, its relation ${relation.columns.length}`,
        );
      return toRow(relation.columns, tuple, keyOnly);
    };
    const after = newTuple === undefined ? undefined : row(newTuple, false);
    const before = oldTuple === undefined ? undefined : row(oldTuple.values, oldTuple.kind === 'key');
    const unchanged = [...(after?.unchanged ?? []), ...(before?.unchanged ?? [])];
    const data = {
      operation,
      schema: relation.schema,
      table: relation.table,
      new: after?.values ?? null,
      ...(before === undefined ? {} : { old: before.values }),
      // TOASTed columns the change did not touch: PostgreSQL does not send them, so neither do we.
      ...(unchanged.length === 0 ? {} : { unchanged: [...new Set(unchanged)] }),
      lsn: transaction.lsn,
      commitTime: new Date(transaction.time).toISOString(),
    };
    return {
      kind: 'event',
      event: {
        id: `${transaction.lsn}:${index}`,
        type: `dev.nimbus.postgres.${operation}`,
        source: this.source,
        subject: `${relation.schema}.${relation.table}`,
        time: transaction.time,
        contentType: 'application/json',
        data: encoder.encode(JSON.stringify(data)),
      },
    };
  }
}
