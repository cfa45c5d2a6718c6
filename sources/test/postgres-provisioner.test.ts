import { strict as assert } from 'node:assert';
import { type PostgresServer, eventually, startPostgresServer } from '@nimbus/testkit';
import { slotName } from '../src/postgres/names.js';
import { postgresProvisioner as provisioner } from '../src/postgres/provisioner.js';
import { SourceConfigError } from '../src/source.js';
import { Readers, RecordingSink, postgresTrigger, secretHolding } from './postgres-fixtures.js';

describe('postgres provisioner (a real PostgreSQL)', function () {
  this.timeout(60_000);
  let server: PostgresServer;

  before(async () => {
    server = await startPostgresServer();
    await server.sql(`
      CREATE TABLE public.orders (id serial PRIMARY KEY, sku text);
      CREATE SCHEMA billing;
      CREATE TABLE billing.invoices (id serial PRIMARY KEY, total numeric);
      CREATE TABLE public.victims (id int);
      CREATE ROLE plain LOGIN PASSWORD 'plain-Pa55word';
      GRANT ALL ON ALL TABLES IN SCHEMA public TO plain;`);
  });
  after(async () => server?.stop());

  const publication = async (name: string) =>
    server.sql(
      `SELECT pubinsert, pubupdate, pubdelete, (SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename)
         FROM pg_publication_tables t WHERE t.pubname = p.pubname)
         FROM pg_publication p WHERE pubname = '${name}'`,
    );
  const slots = async (name: string) =>
    server.sql(`SELECT plugin, database, slot_type FROM pg_replication_slots WHERE slot_name = '${name}'`);

  it('names the slot from the trigger: deterministic, a valid identifier, apart per trigger', () => {
    const a = slotName({ namespace: 'shop', function: 'orders-fn', name: 'orders-db' });
    assert.equal(a, slotName({ namespace: 'shop', function: 'orders-fn', name: 'orders-db' }));
    assert.match(a, /^nimbus_[0-9a-f]{40}$/);
    assert.ok(a.length <= 63);
    assert.notEqual(a, slotName({ namespace: 'shop', function: 'orders-fn', name: 'orders-db2' }));
    // The parts are kept apart: shop/a-b/c is not shop/a/b-c.
    assert.notEqual(
      slotName({ namespace: 'a', function: 'b-c', name: 'd' }),
      slotName({ namespace: 'a-b', function: 'c', name: 'd' }),
    );
  });

  it('makes the publication and a pgoutput slot, idempotently, and converges tables and operations', async () => {
    const trigger = postgresTrigger('converge', {
      tables: ['orders', 'billing.invoices'],
      operations: ['insert'],
    });
    const name = slotName(trigger);
    const secrets = secretHolding(server.url());
    await provisioner.ensure(trigger, secrets);
    assert.equal(await publication(name), 't|f|f|billing.invoices,public.orders');
    assert.equal(await slots(name), 'pgoutput|postgres|logical');
    await provisioner.ensure(trigger, secrets);
    assert.equal(await publication(name), 't|f|f|billing.invoices,public.orders');
    assert.equal(
      await server.sql(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${name}'`),
      '1',
    );

    const changed = postgresTrigger('converge', {
      tables: ['public.orders'],
      operations: ['update', 'delete'],
    });
    await provisioner.ensure(changed, secrets);
    assert.equal(await publication(name), 'f|t|t|public.orders');
    const all = postgresTrigger('converge', { tables: ['public.orders'] });
    await provisioner.ensure(all, secrets);
    assert.equal(await publication(name), 't|t|t|public.orders');

    await provisioner.remove(all, secrets);
    assert.equal(await publication(name), '');
    assert.equal(await slots(name), '');
    await provisioner.remove(all, secrets); // idempotent
  });

  it('remove ends a reader that holds the slot and leaves no slot or publication', async () => {
    const trigger = postgresTrigger('held', { tables: ['orders'] });
    const name = slotName(trigger);
    const secrets = secretHolding(server.url());
    await provisioner.ensure(trigger, secrets);
    const sink = new RecordingSink();
    const readers = new Readers(() => server.url());
    readers.start(trigger, sink);
    try {
      await eventually(
        async () =>
          (await server.sql(`SELECT active FROM pg_replication_slots WHERE slot_name = '${name}'`)) === 't'
            ? true
            : undefined,
        20_000,
        'the reader to hold the slot',
      );
      await provisioner.remove(trigger, secrets);
      assert.equal(await slots(name), '');
      assert.equal(await publication(name), '');
      // The reader saw its connection end; it says so and does not crash.
      await eventually(
        () => (sink.lastHealth?.connected === false ? true : undefined),
        10_000,
        'a disconnect',
      );
      assert.ok(sink.lastHealth?.lastError);
    } finally {
      await readers.stopAll();
    }
  });

  it('a role without REPLICATION is a SourceConfigError naming the connection', async () => {
    const trigger = postgresTrigger('plain', { tables: ['orders'] });
    await assert.rejects(
      provisioner.ensure(
        trigger,
        secretHolding(server.url('postgres', { user: 'plain', password: 'plain-Pa55word' })),
      ),
      (err: unknown) => {
        assert.ok(err instanceof SourceConfigError);
        assert.equal(err.field, 'spec.triggers[plain].postgres.connection');
        assert.match(err.message, /"plain" lacks the REPLICATION attribute/);
        assert.doesNotMatch(err.message, /plain-Pa55word/);
        return true;
      },
    );
    assert.equal(await slots(slotName(trigger)), '');
  });

  it('a missing table is a SourceConfigError naming the table, and nothing is made', async () => {
    const trigger = postgresTrigger('missing', { tables: ['orders', 'billing.nope'] });
    await assert.rejects(provisioner.ensure(trigger, secretHolding(server.url())), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.equal(err.field, 'spec.triggers[missing].postgres.tables[1]');
      assert.match(err.message, /billing\.nope does not exist/);
      return true;
    });
    assert.equal(await publication(slotName(trigger)), '');
  });

  it('a table name that would break out of its quotes never reaches the SQL', async () => {
    for (const hostile of ['orders; DROP TABLE victims; --', 'public."victims"', 'orders" , victims --']) {
      const trigger = postgresTrigger('hostile', { tables: [hostile] });
      await assert.rejects(provisioner.ensure(trigger, secretHolding(server.url())), (err: unknown) => {
        assert.ok(err instanceof SourceConfigError);
        assert.equal(err.field, 'spec.triggers[hostile].postgres.tables[0]');
        return true;
      });
    }
    assert.equal(await server.sql("SELECT to_regclass('public.victims') IS NOT NULL"), 't');
    assert.equal(await publication(slotName(postgresTrigger('hostile', { tables: ['x'] }))), '');
  });

  it('a wrong password or a bad URL is a SourceConfigError without the password', async () => {
    const trigger = postgresTrigger('denied', { tables: ['orders'] });
    const wrong = server.url('postgres', { user: 'nimbus', password: 'Wr0ng-Secret-Value' });
    await assert.rejects(provisioner.ensure(trigger, secretHolding(wrong)), (err: unknown) => {
      assert.ok(err instanceof SourceConfigError);
      assert.equal(err.field, 'spec.triggers[denied].postgres.connection');
      assert.match(err.message, /password authentication failed/);
      assert.doesNotMatch(err.message, /Wr0ng-Secret-Value/);
      return true;
    });
    for (const url of [
      'mysql://u:Wr0ng-Secret-Value@h/db',
      'not a url',
      `${wrong}?sslmode=Wr0ng-Secret-Value`,
    ]) {
      await assert.rejects(provisioner.ensure(trigger, secretHolding(url)), (err: unknown) => {
        assert.ok(err instanceof SourceConfigError, String(err));
        assert.equal(err.field, 'spec.triggers[denied].postgres.connection');
        assert.doesNotMatch(err.message, /Wr0ng-Secret-Value/);
        return true;
      });
    }
  });
});
