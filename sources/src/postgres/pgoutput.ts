/**
 * Decodes pgoutput, the logical decoding output plugin built into PostgreSQL (protocol version 1):
 * the messages a walsender sends for a publication inside each XLogData. Every read is checked
 * against the message's length, so a short or garbled message is a ProtocolError, never a read past
 * the buffer or a value made up.
 */

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface RelationColumn {
  readonly name: string;
  readonly typeOid: number;
  /** Part of the replica identity (the key a `K` old tuple carries). */
  readonly key: boolean;
}

/** A column's value as pgoutput sends it. `unchanged`: a TOASTed value the update did not touch, not sent. */
export type TupleValue =
  | { readonly kind: 'null' }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'text'; readonly text: string };

export type PgOutputMessage =
  | { readonly tag: 'begin'; readonly finalLsn: bigint; readonly commitTime: bigint; readonly xid: number }
  | {
      readonly tag: 'commit';
      readonly commitLsn: bigint;
      readonly endLsn: bigint;
      readonly commitTime: bigint;
    }
  | {
      readonly tag: 'relation';
      readonly oid: number;
      readonly schema: string;
      readonly table: string;
      readonly replicaIdentity: string;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'insert'; readonly relation: number; readonly new: readonly TupleValue[] }
  | {
      readonly tag: 'update';
      readonly relation: number;
      /** `key`: only the replica identity's columns; `full`: the whole old row (REPLICA IDENTITY FULL). */
      readonly old?: { readonly kind: 'key' | 'full'; readonly values: readonly TupleValue[] };
      readonly new: readonly TupleValue[];
    }
  | {
      readonly tag: 'delete';
      readonly relation: number;
      readonly old: { readonly kind: 'key' | 'full'; readonly values: readonly TupleValue[] };
    }
  /** Origin, Type, Truncate, Message: nothing an event is made of. */
  | { readonly tag: 'other'; readonly code: string };

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A cursor over one message that refuses to read past its end. */
class Cursor {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  private need(bytes: number): number {
    if (this.at + bytes > this.buf.length)
      throw new ProtocolError(`a pgoutput message ended early (${this.buf.length} bytes)`);
    const start = this.at;
    this.at += bytes;
    return start;
  }

  byte(): string {
    return String.fromCharCode(this.buf[this.need(1)] as number);
  }

  int8(): number {
    return this.buf.readInt8(this.need(1));
  }

  int16(): number {
    return this.buf.readInt16BE(this.need(2));
  }

  int32(): number {
    return this.buf.readInt32BE(this.need(4));
  }

  uint32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  int64(): bigint {
    return this.buf.readBigInt64BE(this.need(8));
  }

  /** A NUL-terminated string. */
  cstring(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new ProtocolError('a pgoutput string has no end');
    const text = utf8.decode(this.buf.subarray(this.at, end));
    this.at = end + 1;
    return text;
  }

  bytes(length: number): Buffer {
    if (length < 0) throw new ProtocolError(`a pgoutput value has length ${length}`);
    const start = this.need(length);
    return this.buf.subarray(start, start + length);
  }
}

function tuple(cursor: Cursor): TupleValue[] {
  const count = cursor.int16();
  const values: TupleValue[] = [];
  for (let i = 0; i < count; i++) {
    const kind = cursor.byte();
    switch (kind) {
      case 'n':
        values.push({ kind: 'null' });
        break;
      case 'u':
        values.push({ kind: 'unchanged' });
        break;
      case 't':
      case 'b': {
        const data = cursor.bytes(cursor.int32());
        // Binary values come only when asked for (binary 'true'), which this reader never does.
        if (kind === 'b')
          throw new ProtocolError('a pgoutput value came in binary form, which was not asked for');
        values.push({ kind: 'text', text: utf8.decode(data) });
        break;
      }
      default:
        throw new ProtocolError(`a pgoutput tuple has a column of unknown kind ${JSON.stringify(kind)}`);
    }
  }
  return values;
}

function oldTuple(cursor: Cursor, marker: string): { kind: 'key' | 'full'; values: TupleValue[] } {
  if (marker !== 'K' && marker !== 'O')
    throw new ProtocolError(`a pgoutput old tuple is marked ${JSON.stringify(marker)}`);
  return { kind: marker === 'K' ? 'key' : 'full', values: tuple(cursor) };
}

export function decodePgOutput(message: Buffer): PgOutputMessage {
  const cursor = new Cursor(message);
  const code = cursor.byte();
  switch (code) {
    case 'B':
      return { tag: 'begin', finalLsn: cursor.int64(), commitTime: cursor.int64(), xid: cursor.uint32() };
    case 'C': {
      cursor.int8(); // flags, unused
      return { tag: 'commit', commitLsn: cursor.int64(), endLsn: cursor.int64(), commitTime: cursor.int64() };
    }
    case 'R': {
      const oid = cursor.uint32();
      const schema = cursor.cstring() || 'pg_catalog';
      const table = cursor.cstring();
      const replicaIdentity = cursor.byte();
      const count = cursor.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = cursor.int8();
        const name = cursor.cstring();
        const typeOid = cursor.uint32();
        cursor.int32(); // type modifier, unused
        columns.push({ name, typeOid, key: (flags & 1) === 1 });
      }
      return { tag: 'relation', oid, schema, table, replicaIdentity, columns };
    }
    case 'I': {
      const relation = cursor.uint32();
      const marker = cursor.byte();
      if (marker !== 'N')
        throw new ProtocolError(`a pgoutput insert's tuple is marked ${JSON.stringify(marker)}`);
      return { tag: 'insert', relation, new: tuple(cursor) };
    }
    case 'U': {
      const relation = cursor.uint32();
      let marker = cursor.byte();
      let old: { kind: 'key' | 'full'; values: TupleValue[] } | undefined;
      if (marker !== 'N') {
        old = oldTuple(cursor, marker);
        marker = cursor.byte();
      }
      if (marker !== 'N')
        throw new ProtocolError(`a pgoutput update's new tuple is marked ${JSON.stringify(marker)}`);
      return old === undefined
        ? { tag: 'update', relation, new: tuple(cursor) }
        : { tag: 'update', relation, old, new: tuple(cursor) };
    }
    case 'D': {
      const relation = cursor.uint32();
      return { tag: 'delete', relation, old: oldTuple(cursor, cursor.byte()) };
    }
    case 'O':
    case 'Y':
    case 'T':
    case 'M':
      return { tag: 'other', code };
    default:
      throw new ProtocolError(`an unknown pgoutput message ${JSON.stringify(code)}`);
  }
}
