import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type PostgresServer,
  type RabbitMqServer,
  type RedisServer,
  eventually,
  send,
  startPostgresServer,
  startRabbitMqServer,
  startRedisServer,
} from '@nimbus/testkit';
import amqp from 'amqplib';
import { admin } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';

/** Keeps the CloudEvents it receives; GET lists them. */
const RECORDER = `const seen = [];
export default async (event) => {
  if (event.method === 'GET') return { seen };
  seen.push({ id: event.cloudEvent?.id, data: event.cloudEvent?.data });
  return { ok: true };
};`;

const one = 'scale:\n  min: 1\n  max: 1';
const FIXTURES = {
  'hooks.yaml': inlineFunction(
    'hooks',
    RECORDER,
    `${one}\ntriggers:\n  - name: in\n    webhook:\n      secret: { name: hook, key: secret }\n      signature: hmac-sha256`,
  ),
  'orders.yaml': inlineFunction(
    'orders',
    RECORDER,
    `${one}\ntriggers:\n  - name: db\n    postgres:\n      connection: { name: shop-db, key: url }\n      tables: [public.orders]`,
  ),
  'jobs.yaml': inlineFunction(
    'jobs',
    RECORDER,
    `${one}\ntriggers:\n  - name: queue\n    rabbitmq:\n      connection: { name: broker, key: url }\n      queue: jobs\n      declare: true`,
  ),
};

const GRACE_MS = 10_000;
const OLD_HOOK = 'hook-secret-before-rotation';
const NEW_HOOK = 'hook-secret-after-rotation';
const OLD_PG = 'pg-password-before-rotation';
const NEW_PG = 'pg-password-after-rotation';
const SECOND_BROKER_PASSWORD = 'amqp-password-after-rotation';

/** Plain HMAC (`hmac-sha256`): `X-Signature-256` over `<X-Timestamp>.<body>`. */
function signed(secret: string, body: string): Record<string, string> {
  const at = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', secret).update(`${at}.${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-timestamp': at, 'x-signature-256': `sha256=${signature}` };
}

/**
 * A Secret rotated while its trigger runs, in local mode with NIMBUS_SECRETS_DIR: a webhook takes
 * the new signing secret at once and the old one for NIMBUS_SOURCE_SECRET_GRACE_MS more; a
 * PostgreSQL reader and a RabbitMQ reader reconnect with the new credentials, and events flow.
 * No value of any Secret shows in logs, metrics or status.
 */
describe('a rotated Secret reaches running readers and webhooks (local mode, NIMBUS_SECRETS_DIR)', function () {
  this.timeout(180_000);
  let redis: RedisServer;
  let nats: SecuredNats;
  let postgres: PostgresServer;
  let rabbit: RabbitMqServer;
  let rotatedRabbit: RabbitMqServer;
  let secrets: string;
  let dir: string;
  let platform: LocalModeProcess;

  const setSecret = async (name: string, key: string, value: string) => {
    await mkdir(join(secrets, name), { recursive: true });
    await writeFile(join(secrets, name, key), `${value}\n`);
  };

  before(async () => {
    [redis, nats, postgres, rabbit, rotatedRabbit] = await Promise.all([
      startRedisServer(),
      startSecuredNats(),
      startPostgresServer(),
      startRabbitMqServer(),
      startRabbitMqServer({ password: SECOND_BROKER_PASSWORD }),
    ]);
    // A role of its own, so its password can be rotated under a running reader.
    await postgres.sql(`CREATE ROLE shop_reader LOGIN REPLICATION PASSWORD '${OLD_PG}'`);
    await postgres.sql(
      'GRANT CREATE ON DATABASE postgres TO shop_reader; ' +
        'CREATE TABLE orders (id int PRIMARY KEY, item text); ALTER TABLE orders OWNER TO shop_reader;',
    );
    secrets = await mkdtemp(join(tmpdir(), 'nimbus-secrets-'));
    await setSecret('hook', 'secret', OLD_HOOK);
    await setSecret('shop-db', 'url', postgres.url('postgres', { user: 'shop_reader', password: OLD_PG }));
    await setSecret('broker', 'url', rabbit.url);
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      NIMBUS_SECRETS_DIR: secrets,
      NIMBUS_SOURCE_SECRET_GRACE_MS: String(GRACE_MS),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await platform?.stop();
    await Promise.all([nats?.stop(), redis?.stop(), postgres?.stop(), rabbit?.stop(), rotatedRabbit?.stop()]);
    for (const d of [dir, secrets]) if (d !== undefined) await rm(d, { recursive: true, force: true });
  });

  const post = (body: string, headers: Record<string, string>) =>
    send(platform.url, '/webhook/default/hooks/in', { method: 'POST', headers, body });
  const seenBy = (fn: string, what: string, enough: (ids: string[]) => boolean) =>
    eventually(
      async () => {
        const reply = await send(platform.url, `/function/${fn}`);
        const ids = reply.json<{ seen: { id: string }[] }>().seen.map((e) => e.id);
        return reply.status === 200 && enough(ids) ? ids : undefined;
      },
      60_000,
      what,
    );
  const connected = (trigger: string) =>
    eventually(
      async () => {
        const metrics = await send(platform.url, '/metrics', { headers: admin });
        const line = metrics.text
          .split('\n')
          .find((l) => l.startsWith('nimbus_source_connected{') && l.includes(`trigger="${trigger}"`));
        return line?.endsWith(' 1') ? true : undefined;
      },
      60_000,
      `${trigger} to connect`,
    );

  it('a webhook takes the new secret at once, and the old one only for the grace', async () => {
    // Until the stream is made, a request is refused as not stored (503): the sender retries.
    const first = await eventually(
      async () => {
        const reply = await post('{"n":1}', signed(OLD_HOOK, '{"n":1}'));
        return reply.json<{ code?: string }>().code === 'NotStored' ? undefined : reply;
      },
      20_000,
      'the webhook to store',
    );
    assert.equal(first.status, 202, first.text);
    await setSecret('hook', 'secret', NEW_HOOK);
    const rotatedAt = Date.now();
    const fresh = await eventually(
      async () => {
        const reply = await post('{"n":2}', signed(NEW_HOOK, '{"n":2}'));
        return reply.status === 202 ? reply : undefined;
      },
      10_000,
      'a request signed with the new secret to be accepted',
    );
    assert.equal(fresh.status, 202);
    const inGrace = await post('{"n":3}', signed(OLD_HOOK, '{"n":3}'));
    assert.equal(inGrace.status, 202, `the old secret within the grace: ${inGrace.text}`);
    let n = 3;
    const refused = await eventually(
      async () => {
        n++;
        const reply = await post(`{"n":${n}}`, signed(OLD_HOOK, `{"n":${n}}`));
        return reply.status === 401 ? reply : undefined;
      },
      GRACE_MS + 20_000,
      'the old secret to be refused once the grace is over',
    );
    assert.ok(Date.now() - rotatedAt >= GRACE_MS, 'not refused before the grace was over');
    assert.match(refused.text, /X-Signature-256 does not match/);
    assert.equal((await post('{"n":0}', signed(NEW_HOOK, '{"n":0}'))).status, 202, 'the new one still is');
    await seenBy('hooks', 'the accepted requests delivered', (ids) => ids.length >= 4);
  });

  it('a PostgreSQL password rotated on the server and in the Secret: the reader reconnects with it', async () => {
    await connected('db');
    const walsender = async () =>
      (await postgres.sql("SELECT pid FROM pg_stat_replication WHERE usename = 'shop_reader'")).trim();
    const before = await eventually(async () => (await walsender()) || undefined, 30_000, 'a walsender');
    await postgres.sql("INSERT INTO orders VALUES (1, 'tea')");
    await seenBy('orders', 'the row inserted before the rotation', (ids) => ids.length >= 1);
    await postgres.sql(`ALTER ROLE shop_reader PASSWORD '${NEW_PG}'`);
    await setSecret('shop-db', 'url', postgres.url('postgres', { user: 'shop_reader', password: NEW_PG }));
    // The old session would live on: only a restart with the new password gives another walsender.
    const after = await eventually(
      async () => {
        const pid = await walsender();
        return pid !== '' && pid !== before ? pid : undefined;
      },
      30_000,
      'a walsender of a new session',
    );
    assert.doesNotMatch(after, /\n/, 'one session only: the old one has ended');
    await postgres.sql("INSERT INTO orders VALUES (2, 'cake')");
    await seenBy('orders', 'the row inserted after the rotation', (ids) => ids.length >= 2);
  });

  it('a RabbitMQ URL rotated in the Secret: the reader moves to the new broker and messages flow', async () => {
    await connected('queue');
    const consumers = async (broker: RabbitMqServer) => (await broker.queueCounts('jobs'))?.consumers ?? 0;
    await eventually(async () => ((await consumers(rabbit)) === 1 ? true : undefined), 30_000, 'a consumer');
    const publish = async (broker: RabbitMqServer, id: string) => {
      const connection = await amqp.connect(broker.url);
      const channel = await connection.createConfirmChannel();
      channel.sendToQueue('jobs', Buffer.from('{}'), { messageId: id, contentType: 'application/json' });
      await channel.waitForConfirms();
      await connection.close();
    };
    await publish(rabbit, 'job-before');
    await seenBy('jobs', 'the message on the first broker', (ids) => ids.includes('job-before'));
    await setSecret('broker', 'url', rotatedRabbit.url);
    await eventually(
      async () =>
        (await consumers(rotatedRabbit)) === 1 && (await consumers(rabbit)) === 0 ? true : undefined,
      30_000,
      'the consumer to move to the broker the Secret names now (its queue declared there)',
    );
    await publish(rotatedRabbit, 'job-after');
    await seenBy('jobs', 'the message on the new broker', (ids) => ids.includes('job-after'));
  });

  it('no Secret value, old or new, shows in the logs, the metrics or the status', async () => {
    const metrics = await send(platform.url, '/metrics', { headers: admin });
    const functions = await send(platform.url, '/system/functions', { headers: admin });
    assert.equal(functions.status, 200);
    const said = [JSON.stringify(platform.logs), metrics.text, functions.text].join('\n');
    assert.match(said, /Secret changed; restarting its reader/, 'the restarts are logged');
    for (const value of [OLD_HOOK, NEW_HOOK, OLD_PG, NEW_PG, rabbit.password, SECOND_BROKER_PASSWORD])
      assert.ok(!said.includes(value), 'a Secret value was said');
  });
});
