import { strict as assert } from 'node:assert';
import { eventually } from '@nimbus/testkit';
import { connectClient, parseConnectionUrl } from '../src/postgres/connection.js';
import { startReplication } from '../src/postgres/replication.js';
import { usePostgres } from './postgres-fixtures.js';

/** pgoutput's Insert. */
const INSERT = 0x49;

describe('postgres replication stream (a real PostgreSQL)', function () {
  this.timeout(60_000);
  const suite = usePostgres();

  it('hands a burst over a turn of the event loop at a time, every frame intact and in order', async () => {
    const { server } = suite;
    await server.sql('CREATE TABLE burst (id int PRIMARY KEY, pad text)');
    await server.sql('CREATE PUBLICATION burst_pub FOR TABLE burst');
    await server.sql("SELECT pg_create_logical_replication_slot('burst_pub', 'pgoutput')");
    // One transaction of 2,000 rows: the server sends it as fast as it can, hundreds of frames a read.
    await server.sql("INSERT INTO burst SELECT i, repeat('x', 40) FROM generate_series(1, 2000) AS i");
    const client = await connectClient(parseConnectionUrl(server.url(), 'url'), { replication: true });
    const ids: number[] = [];
    const failures: Error[] = [];
    // The most frames handled between two turns of the event loop, seen by a probe that runs every turn.
    let sinceTurn = 0;
    let mostInOneTurn = 0;
    let probing = true;
    const probe = () => {
      mostInOneTurn = Math.max(mostInOneTurn, sinceTurn);
      sinceTurn = 0;
      if (probing) setImmediate(probe);
    };
    setImmediate(probe);
    try {
      await startReplication(client, 'burst_pub', 'burst_pub', {
        data: (message) => {
          sinceTurn++;
          // Each frame costs what a store costs a gateway, about 0.1 ms of this thread.
          const until = performance.now() + 0.1;
          while (performance.now() < until);
          if (message[0] !== INSERT) return;
          // Insert: relation id (4), 'N', column count (2), then the first column: 't', length, text.
          const length = message.readInt32BE(9);
          ids.push(Number(message.subarray(13, 13 + length).toString('utf8')));
        },
        keepalive: () => {},
        fail: (err) => failures.push(err),
      });
      await eventually(() => (ids.length >= 2000 ? true : undefined), 30_000, '2,000 inserts read');
    } finally {
      probing = false;
      await client.end();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(
      ids,
      Array.from({ length: 2000 }, (_, i) => i + 1),
      'every row once, in commit order, its bytes as sent (a view of a reused read buffer would not be)',
    );
    // Handled as they came, a read's hundreds of frames (each 0.1 ms) held the thread at once.
    assert.ok(mostInOneTurn <= 20, `${mostInOneTurn} frames were handled in one turn of the event loop`);
  });
});
