import { strict as assert } from 'node:assert';
import type { ResolvedSource } from '@nimbus/api';
import { type PostgresServer, eventually } from '@nimbus/testkit';
import { parseLsn } from '../src/postgres/lsn.js';
import { slotName } from '../src/postgres/names.js';
import { postgresProvisioner as provisioner } from '../src/postgres/provisioner.js';
import {
  RecordingSink,
  confirmedFlush,
  dataOf,
  postgresTrigger,
  recordingLogger,
  secretHolding,
  usePostgres,
} from './postgres-fixtures.js';

describe('postgres reader (a real PostgreSQL)', function () {
  this.timeout(60_000);
  const suite = usePostgres();
  const readers = suite.readers;
  let server: PostgresServer;
  before(() => {
    server = suite.server;
  });

  const connected = (sink: RecordingSink) =>
    eventually(() => (sink.lastHealth?.connected ? true : undefined), 20_000, 'the reader to connect');
  const storedCount = (sink: RecordingSink, count: number) =>
    eventually(() => (sink.stored.length >= count ? true : undefined), 20_000, `${count} events stored`);

  /** A trigger on `table` (made by `ddl`), provisioned. */
  async function provisioned(
    name: string,
    ddl: string,
    tables: string[],
  ): Promise<ResolvedSource<'postgres'>> {
    await server.sql(ddl);
    const trigger = postgresTrigger(name, { tables });
    await provisioner.ensure(trigger, secretHolding(server.url()));
    return trigger;
  }

  it('gives inserts, updates and deletes in commit order, typed, with the key of a deleted row', async () => {
    const trigger = await provisioned(
      'orders',
      `CREATE TABLE orders (id serial PRIMARY KEY, sku text, qty int, price numeric(10,2), paid bool,
         meta jsonb, big bigint, ratio float8, at timestamptz, note text)`,
      ['orders'],
    );
    const sink = new RecordingSink();
    readers.start(trigger, sink);
    await connected(sink);
    await server.sql(`BEGIN;
      INSERT INTO orders (sku, qty, price, paid, meta, big, ratio, at)
        VALUES ('A-1', 2, 9.50, true, '{"tags":["x"],"n":1}', 9007199254740993, 0.5, '2026-01-02T03:04:05Z');
      INSERT INTO orders (sku, qty) VALUES ('B-2', 1);
      COMMIT;`);
    await server.sql("UPDATE orders SET qty = 3 WHERE sku = 'A-1'");
    await server.sql("DELETE FROM orders WHERE sku = 'B-2'");
    await storedCount(sink, 4);

    const events = sink.stored;
    assert.deepEqual(
      events.map((e) => e.type),
      ['insert', 'insert', 'update', 'delete'].map((op) => `dev.nimbus.postgres.${op}`),
    );
    const rows = sink.rows();
    const lsn = rows[0]?.lsn ?? '';
    assert.deepEqual(
      events.slice(0, 2).map((e) => e.id),
      [`${lsn}:0`, `${lsn}:1`],
    );
    assert.equal(new Set(events.map((e) => e.id)).size, 4);
    const lsns = rows.map((r) => parseLsn(r.lsn));
    assert.deepEqual(
      [...lsns].sort((a, b) => (a < b ? -1 : 1)),
      lsns,
    );
    for (const [i, event] of events.entries()) {
      assert.equal(event.source, `postgres://127.0.0.1:${server.port}/postgres`);
      assert.equal(event.subject, 'public.orders');
      assert.equal(event.contentType, 'application/json');
      assert.equal(event.time, Date.parse(rows[i]?.commitTime ?? ''));
      assert.ok(Math.abs(event.time - Date.now()) < 60_000);
      assert.match(event.id, /^[0-9A-F]+\/[0-9A-F]+:\d+$/);
    }
    const [first, second, update, del] = rows;
    assert.deepEqual(
      { ...first?.new, at: undefined },
      {
        id: 1,
        sku: 'A-1',
        qty: 2,
        price: '9.50',
        paid: true,
        meta: { tags: ['x'], n: 1 },
        big: '9007199254740993',
        ratio: 0.5,
        at: undefined,
        note: null,
      },
    );
    assert.match(String(first?.new?.at), /^2026-01-02 03:04:05/);
    assert.equal(first?.old, undefined);
    assert.deepEqual(second?.new?.sku, 'B-2');
    assert.equal(update?.operation, 'update');
    assert.equal(update?.new?.qty, 3);
    assert.equal(update?.old, undefined, 'default replica identity: no old row when the key stays');
    assert.equal(del?.operation, 'delete');
    assert.equal(del?.new, null);
    assert.deepEqual({ ...del?.old }, { id: 2 }, 'default replica identity: only the key, no invented nulls');
  });

  it('gives the whole old row with REPLICA IDENTITY FULL', async () => {
    const trigger = await provisioned(
      'accounts',
      `CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance int);
       ALTER TABLE accounts REPLICA IDENTITY FULL;`,
      ['public.accounts'],
    );
    const sink = new RecordingSink();
    readers.start(trigger, sink);
    await connected(sink);
    await server.sql("INSERT INTO accounts VALUES (7, 'ada', 10)");
    await server.sql('UPDATE accounts SET balance = 25 WHERE id = 7');
    await server.sql('DELETE FROM accounts WHERE id = 7');
    await storedCount(sink, 3);
    const [, update, del] = sink.rows();
    assert.deepEqual({ ...update?.old }, { id: 7, owner: 'ada', balance: 10 });
    assert.deepEqual({ ...update?.new }, { id: 7, owner: 'ada', balance: 25 });
    assert.deepEqual({ ...del?.old }, { id: 7, owner: 'ada', balance: 25 });
  });

  it('marks an unchanged TOASTed column instead of making a value up', async () => {
    const trigger = await provisioned(
      'docs',
      'CREATE TABLE docs (id int PRIMARY KEY, title text, body text)',
      ['docs'],
    );
    const sink = new RecordingSink();
    readers.start(trigger, sink);
    await connected(sink);
    await server.sql(
      "INSERT INTO docs SELECT 1, 'draft', string_agg(md5(i::text), '') FROM generate_series(1, 20000) i",
    );
    await server.sql("UPDATE docs SET title = 'final' WHERE id = 1");
    await storedCount(sink, 2);
    const [insert, update] = sink.rows();
    assert.equal(String(insert?.new?.body).length, 640_000);
    assert.deepEqual({ ...update?.new }, { id: 1, title: 'final' });
    assert.deepEqual(update?.unchanged, ['body']);
  });

  it('delivers what was committed while it was stopped, and not what it had confirmed', async () => {
    const trigger = await provisioned('ticks', 'CREATE TABLE ticks (id serial PRIMARY KEY, n int)', [
      'ticks',
    ]);
    const first = new RecordingSink();
    const reader = readers.start(trigger, first);
    await connected(first);
    await server.sql('INSERT INTO ticks (n) VALUES (1)');
    await storedCount(first, 1);
    await reader.stop();
    await server.sql('INSERT INTO ticks (n) VALUES (2)');
    await server.sql('INSERT INTO ticks (n) VALUES (3)');

    const second = new RecordingSink();
    readers.start(trigger, second);
    await storedCount(second, 2);
    // On connecting it said how far behind the slot was: the two rows' WAL, in bytes.
    assert.ok((second.health.find((h) => h.connected)?.backlog ?? 0) > 0);
    assert.deepEqual(
      second.rows().map((r) => r.new?.n),
      [2, 3],
    );
  });

  it('confirms a transaction to the slot only once its events are stored', async () => {
    const trigger = await provisioned('held', 'CREATE TABLE held (id serial PRIMARY KEY)', ['held']);
    const slot = slotName(trigger);
    const sink = new RecordingSink();
    let release: () => void = () => {};
    sink.storing = () =>
      new Promise<void>((resolve) => {
        release = resolve;
      });
    readers.start(trigger, sink);
    await connected(sink);
    await server.sql('INSERT INTO held DEFAULT VALUES');
    await eventually(() => (sink.offered.length === 1 ? true : undefined), 20_000, 'the event offered');
    const commit = parseLsn(dataOf(sink.offered[0] as never).lsn);
    // Keepalives and more WAL come and go; the slot stays short of the held transaction.
    await server.sql('CREATE TABLE elsewhere (id int); INSERT INTO elsewhere VALUES (1); CHECKPOINT');
    assert.ok(parseLsn((await confirmedFlush(server, slot)) ?? '0/0') <= commit);
    release();
    await eventually(
      async () => (parseLsn((await confirmedFlush(server, slot)) ?? '0/0') > commit ? true : undefined),
      20_000,
      'the slot confirmed past the commit',
    );
  });

  it('confirms a burst held in flight up to its last transaction once the stores land', async () => {
    const trigger = await provisioned('burst', 'CREATE TABLE burst (id serial PRIMARY KEY, n int)', [
      'burst',
    ]);
    const slot = slotName(trigger);
    const sink = new RecordingSink();
    // Every store waits until 200 are in flight: status updates go out in groups meanwhile, and
    // the last group (fewer than a full one) must still reach the slot once nothing is in flight.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    sink.storing = () => {
      if (sink.offered.length >= 200) release();
      return held;
    };
    readers.start(trigger, sink);
    await connected(sink);
    await server.sql(
      'DO $$ BEGIN FOR i IN 1..230 LOOP INSERT INTO burst (n) VALUES (i); COMMIT; END LOOP; END $$',
    );
    await storedCount(sink, 230);
    const last = parseLsn(dataOf(sink.stored.at(-1) as never).lsn);
    await eventually(
      async () => (parseLsn((await confirmedFlush(server, slot)) ?? '0/0') > last ? true : undefined),
      20_000,
      'the slot confirmed past the last commit',
    );
    assert.deepEqual(
      sink.rows().map((r) => r.new?.n),
      Array.from({ length: 230 }, (_, i) => i + 1),
    );
  });

  it('confirms nothing while the sink refuses, and the events come again after a restart', async () => {
    const trigger = await provisioned('refused', 'CREATE TABLE refused (id serial PRIMARY KEY, n int)', [
      'refused',
    ]);
    const slot = slotName(trigger);
    const before = await confirmedFlush(server, slot);
    const refusing = new RecordingSink();
    refusing.storing = () => Promise.reject(new Error('JetStream is away'));
    const reader = readers.start(trigger, refusing);
    await connected(refusing);
    await server.sql('INSERT INTO refused (n) VALUES (1)');
    await server.sql('INSERT INTO refused (n) VALUES (2)');
    await eventually(
      () => (refusing.lastHealth?.lastError?.includes('did not store') ? true : undefined),
      20_000,
      'the refusal reported',
    );
    assert.equal(refusing.lastHealth?.connected, false);
    assert.match(refusing.lastHealth?.lastError ?? '', /JetStream is away/);
    await reader.stop();
    assert.equal(await confirmedFlush(server, slot), before);
    assert.equal(refusing.stored.length, 0);

    const accepting = new RecordingSink();
    readers.start(trigger, accepting);
    await storedCount(accepting, 2);
    assert.deepEqual(
      accepting.rows().map((r) => r.new?.n),
      [1, 2],
    );
    assert.ok(refusing.offered.length > 0);
    assert.equal(accepting.stored[0]?.id, refusing.offered[0]?.id, 'the same id again, for deduplication');
  });
});
