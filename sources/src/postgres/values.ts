import type { RelationColumn, TupleValue } from './pgoutput.js';

/**
 * pgoutput sends every value as PostgreSQL's text form. An event's row carries JSON values where
 * the type has an exact JSON counterpart, and the text otherwise:
 * - bool: true/false; int2, int4, oid: numbers; int8: a number while it is a safe integer, else
 *   the digits as a string (so no value is silently rounded);
 * - float4, float8: numbers, except NaN and ±Infinity, which JSON has not, as strings;
 * - json, jsonb: the parsed value;
 * - numeric stays a string (its precision and scale are the point of it), as do dates and times
 *   (ISO-like text), bytea (`\x…` hex), arrays, enums and every other type.
 */
export type RowValue = string | number | boolean | null | unknown;

const BOOL = 16;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const OID = 26;
const JSON_OID = 114;
const FLOAT4 = 700;
const FLOAT8 = 701;
const JSONB = 3802;

export function convertValue(typeOid: number, text: string): RowValue {
  switch (typeOid) {
    case BOOL:
      return text === 't';
    case INT2:
    case INT4:
    case OID:
      return Number(text);
    case INT8: {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case FLOAT4:
    case FLOAT8: {
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case JSON_OID:
    case JSONB:
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text; // PostgreSQL checked it; should it not parse here, the text is still the truth
      }
    default:
      return text;
  }
}

/** A row as JSON, and the columns left out because their TOASTed value was not sent (unchanged). */
export interface Row {
  readonly values: Record<string, RowValue>;
  readonly unchanged: string[];
}

/**
 * The tuple's columns by name. `keyOnly`: the old tuple of a table whose replica identity is its
 * key, where the other columns come as nulls that say nothing of the row: they are left out.
 */
export function toRow(
  columns: readonly RelationColumn[],
  tuple: readonly TupleValue[],
  keyOnly = false,
): Row {
  // No prototype: a column named __proto__ is a column like any other.
  const values: Record<string, RowValue> = Object.create(null);
  const unchanged: string[] = [];
  tuple.forEach((value, i) => {
    const column = columns[i];
    if (column === undefined || (keyOnly && !column.key)) return;
    if (value.kind === 'unchanged') unchanged.push(column.name);
    else values[column.name] = value.kind === 'null' ? null : convertValue(column.typeOid, value.text);
  });
  return { values, unchanged };
}
