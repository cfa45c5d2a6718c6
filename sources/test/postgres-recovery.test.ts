import { strict as assert } from 'node:assert';
import { ManualClock, type PostgresServer, eventually } from '@nimbus/testkit';
import type pg from 'pg';
import { postgresProvisioner as provisioner } from '../src/postgres/provisioner.js';
import {
  RecordingSink,
  connectPg as connect,
  postgresTrigger,
  recordingLogger,
  secretHolding,
  usePostgres,
} from './postgres-fixtures.js';

describe('postgres reader across failures (a real PostgreSQL)', function () {
  this.timeout(120_000);
  const suite = usePostgres();
  const readers = suite.readers;
  let server: PostgresServer;
  before(() => {
    server = suite.server;
  });

  it('gets every committed row, in order, when the server restarts mid-stream', async () => {
    await server.sql('CREATE TABLE pulses (id serial PRIMARY KEY, n int)');
    const trigger = postgresTrigger('pulses', { tables: ['pulses'] });
    const secrets = secretHolding(server.url());
    await provisioner.ensure(trigger, secrets);
    const sink = new RecordingSink();
    const clock = new ManualClock(Date.now());
    readers.start(trigger, sink, { secrets, clock });
    await eventually(() => (sink.lastHealth?.connected ? true : undefined), 20_000, 'connected');

    // A writer that inserts n = 1..400 one transaction each and keeps the ones acknowledged; a
    // failed insert is tried again on a new connection (it may have committed: a duplicate is fine).
    const acknowledged: number[] = [];
    const writer = (async () => {
      let client: pg.Client | undefined;
      for (let n = 1; n <= 400; n++) {
        for (;;) {
          try {
            client ??= await connect(server.url());
            await client.query('INSERT INTO pulses (n) VALUES ($1)', [n]);
            acknowledged.push(n);
            break;
          } catch {
            await client?.end().catch(() => {});
            client = undefined;
            await eventually(
              () => connect(server.url()).then((c) => c.end().then(() => true)),
              30_000,
              'postgres back',
            );
          }
        }
      }
      await client?.end();
    })();
    await eventually(() => (acknowledged.length >= 100 ? true : undefined), 30_000, '100 rows written');
    await server.restart();
    await writer;
    assert.equal(acknowledged.length, 400);

    await eventually(
      () => {
        // The reader waits out its backoff on the manual clock: move it along.
        clock.advance(30_000);
        const seen = new Set(sink.rows().map((r) => r.new?.n));
        return acknowledged.every((n) => seen.has(n)) ? true : undefined;
      },
      60_000,
      'every acknowledged row',
    );
    const firstSeen: number[] = [];
    for (const row of sink.rows()) {
      const n = row.new?.n as number;
      if (!firstSeen.includes(n)) firstSeen.push(n);
    }
    assert.deepEqual(
      firstSeen,
      [...firstSeen].sort((a, b) => a - b),
      'commit order',
    );
    assert.ok(
      sink.health.some((h) => !h.connected && h.lastError !== undefined),
      'the outage reported',
    );
    assert.equal(sink.lastHealth?.connected, true);
  });

  it('never shows the connection password in events, health, errors or logs', async () => {
    const password = 'Very-Secret-Pw-42';
    await server.sql(`
      CREATE ROLE app_reader LOGIN REPLICATION PASSWORD '${password}';
      GRANT CREATE ON DATABASE postgres TO app_reader;
      CREATE TABLE payments (id serial PRIMARY KEY, amount int);
      ALTER TABLE payments OWNER TO app_reader;`);
    const url = server.url('postgres', { user: 'app_reader', password });
    const trigger = postgresTrigger('payments', { tables: ['payments'] });
    const clock = new ManualClock(Date.now());
    const log = recordingLogger();

    // Not provisioned yet: the slot is missing, which the reader says (without the password).
    const sink = new RecordingSink();
    readers.start(trigger, sink, { secrets: secretHolding(url), clock, log });
    await eventually(() => (sink.lastHealth?.lastError ? true : undefined), 20_000, 'an error reported');
    assert.match(sink.lastHealth?.lastError ?? '', /replication slot nimbus_[0-9a-f]+ does not exist/);

    await provisioner.ensure(trigger, secretHolding(url));
    await eventually(
      () => {
        clock.advance(30_000);
        return sink.lastHealth?.connected ? true : undefined;
      },
      20_000,
      'connected once provisioned',
    );
    await server.sql('INSERT INTO payments (amount) VALUES (5)');
    await eventually(() => (sink.stored.length === 1 ? true : undefined), 20_000, 'the event');

    // A wrong password: the failure is reported, the password it was given is not.
    const wrong = new RecordingSink();
    readers.start(trigger, wrong, {
      secrets: secretHolding(url.replace(password, `${password}-old`)),
      clock,
      log,
    });
    await eventually(() => (wrong.lastHealth?.lastError ? true : undefined), 20_000, 'an error reported');
    assert.match(wrong.lastHealth?.lastError ?? '', /password authentication failed/);

    const everything = JSON.stringify({
      events: sink.stored.map((e) => ({ ...e, data: new TextDecoder().decode(e.data) })),
      health: [...sink.health, ...wrong.health],
      logs: log.lines,
    });
    assert.ok(everything.includes('postgres://127.0.0.1'), 'the source is there');
    assert.ok(!everything.includes(password), 'no password');
    assert.ok(!everything.includes('app_reader:'), 'no user:password');
  });
});
