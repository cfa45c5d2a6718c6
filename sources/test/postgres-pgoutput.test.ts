import { strict as assert } from 'node:assert';
import { ChangeDecoder } from '../src/postgres/change-events.js';
import { ConfirmTracker } from '../src/postgres/confirm-tracker.js';
import { parseConnectionUrl } from '../src/postgres/connection.js';
import { formatLsn, parseLsn } from '../src/postgres/lsn.js';
import { ProtocolError, decodePgOutput } from '../src/postgres/pgoutput.js';
import { convertValue } from '../src/postgres/values.js';
import { SourceConfigError } from '../src/source.js';
import { dataOf } from './postgres-fixtures.js';

/** pgoutput messages built by hand, as a walsender (or a hostile server) would send them. */
const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const int64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};
const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);
const text = (s: string) => Buffer.concat([Buffer.from('t'), int32(Buffer.byteLength(s)), Buffer.from(s)]);

const relation = Buffer.concat([
  Buffer.from('R'),
  int32(16384),
  cstr('public'),
  cstr('orders'),
  Buffer.from('d'),
  int16(2),
  Buffer.from([1]),
  cstr('id'),
  int32(23),
  int32(-1 >>> 0),
  Buffer.from([0]),
  cstr('__proto__'),
  int32(3802),
  int32(-1 >>> 0),
]);
const begin = Buffer.concat([Buffer.from('B'), int64(0x16b3748n), int64(0n), int32(7)]);
const insert = Buffer.concat([
  Buffer.from('I'),
  int32(16384),
  Buffer.from('N'),
  int16(2),
  text('42'),
  text('{"a":1}'),
]);

describe('postgres pgoutput decoding', () => {
  it('turns Relation, Begin and Insert into one event with typed values', () => {
    const decoder = new ChangeDecoder('postgres://db:5432/shop', new Set(['insert']));
    assert.equal(decoder.take(decodePgOutput(relation)).kind, 'none');
    assert.equal(decoder.take(decodePgOutput(begin)).kind, 'begin');
    const step = decoder.take(decodePgOutput(insert));
    assert.equal(step.kind, 'event');
    if (step.kind !== 'event') return;
    assert.equal(step.event.id, '0/16B3748:0');
    assert.equal(step.event.time, Date.UTC(2000, 0, 1));
    const data = dataOf(step.event);
    // A column named __proto__ is data, not a prototype.
    assert.deepEqual(JSON.parse(JSON.stringify(data.new)), { id: 42, ['__proto__']: { a: 1 } });
    assert.equal(Object.getPrototypeOf({}).a, undefined);
  });

  it('refuses truncated, garbled or out-of-place messages with a ProtocolError', () => {
    for (let cut = 1; cut < insert.length; cut++)
      assert.throws(() => decodePgOutput(insert.subarray(0, cut)), ProtocolError, `cut at ${cut}`);
    assert.throws(() => decodePgOutput(Buffer.from('Z')), /unknown pgoutput message "Z"/);
    const negative = Buffer.concat([
      Buffer.from('I'),
      int32(1),
      Buffer.from('N'),
      int16(1),
      Buffer.from('t'),
      int32(-5 >>> 0),
    ]);
    assert.throws(() => decodePgOutput(negative), ProtocolError);
    const decoder = new ChangeDecoder('postgres://db:5432/shop', new Set(['insert']));
    assert.throws(() => decoder.take(decodePgOutput(insert)), /outside a transaction/);
    decoder.take(decodePgOutput(begin));
    assert.throws(() => decoder.take(decodePgOutput(insert)), /relation 16384, not described/);
    decoder.take(decodePgOutput(relation));
    const short = Buffer.concat([Buffer.from('I'), int32(16384), Buffer.from('N'), int16(1), text('1')]);
    assert.throws(() => decoder.take(decodePgOutput(short)), /has 1 columns, its relation 2/);
  });

  it('converts text values where JSON has an exact counterpart, and keeps the text otherwise', () => {
    assert.equal(convertValue(16, 't'), true);
    assert.equal(convertValue(16, 'f'), false);
    assert.equal(convertValue(23, '-12'), -12);
    assert.equal(convertValue(20, '9007199254740991'), 9007199254740991);
    assert.equal(convertValue(20, '9007199254740993'), '9007199254740993');
    assert.equal(convertValue(701, '0.25'), 0.25);
    assert.equal(convertValue(701, 'NaN'), 'NaN');
    assert.equal(convertValue(1700, '12.50'), '12.50');
    assert.deepEqual(convertValue(114, '[1,"x"]'), [1, 'x']);
    assert.equal(convertValue(1184, '2026-01-02 03:04:05+00'), '2026-01-02 03:04:05+00');
  });

  it('writes and reads WAL positions', () => {
    assert.equal(parseLsn('16/B374D848'), 0x16b374d848n);
    assert.equal(formatLsn(0x16b374d848n), '16/B374D848');
    assert.throws(() => parseLsn('16-B3'), /not a WAL position/);
  });
});

describe('postgres confirm tracker', () => {
  it('moves over whole transactions in order, whatever order their stores finish in', () => {
    const tracker = new ConfirmTracker(100n);
    const a = tracker.begin();
    tracker.added(a);
    tracker.added(a);
    assert.equal(tracker.committed(a, 200n), false);
    const b = tracker.begin();
    tracker.added(b);
    tracker.committed(b, 300n);
    assert.equal(tracker.stored(b), false, 'b is stored, but a is not yet');
    assert.equal(tracker.caughtUp(1000n), false, 'not while anything is open');
    assert.equal(tracker.stored(a), false);
    assert.equal(tracker.confirmed, 100n);
    assert.equal(tracker.stored(a), true);
    assert.equal(tracker.confirmed, 300n);
    assert.equal(tracker.caughtUp(1000n), true);
    assert.equal(tracker.confirmed, 1000n);
  });
});

describe('postgres connection URL', () => {
  it('names the field for a URL it cannot use, and never repeats its password', () => {
    const field = 'spec.triggers[t].postgres.connection';
    for (const url of [
      'http://u:S3cret-pw@h/db',
      'postgres://:S3cret-pw@h/db',
      'postgres://u:S3cret-pw@h/db?sslmode=S3cret-pw',
    ]) {
      assert.throws(
        () => parseConnectionUrl(url, field),
        (err: unknown) =>
          err instanceof SourceConfigError && err.field === field && !err.message.includes('S3cret-pw'),
      );
    }
    const target = parseConnectionUrl(
      'postgresql://u:S3cret%2Fpw@db.example:6543/shop?replication=true',
      field,
    );
    assert.equal(target.source, 'postgres://db.example:6543/shop');
    assert.equal(target.config.password, 'S3cret/pw');
    assert.equal((target.config as { replication?: unknown }).replication, undefined);
    assert.equal(
      target.redact('failed for postgres://u:S3cret%2Fpw@db.example and S3cret/pw'),
      'failed for postgres://db.example and ***',
    );
  });
});
