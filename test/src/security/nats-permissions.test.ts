import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BusUnavailableError,
  CALLS_CONSUMER,
  CALLS_STREAM,
  DEAD_LETTER_STREAM,
  EVENTS_STREAM,
  JetStreamBus,
  NATS_INBOX_PREFIX,
  NATS_PERMISSIONS_FILE,
  callsConsumerConfig,
  callsStreamConfig,
  chartNatsPermissionsJson,
  deadLetterStreamConfig,
  eventsStreamConfig,
  triggerConsumerConfig,
} from '@nimbus/bus';
import { type NatsServer, eventually, startNatsServer } from '@nimbus/testkit';
import { type NatsConnection, connect } from 'nats';
import { parseAllDocuments } from 'yaml';
import { helm } from '../harness/helm.js';
import { CHART_DIR, REPO_ROOT } from '../harness/install-bundle.js';

/** The bundled server's authorization block exactly as the chart renders it (default values). */
async function chartAuthorization(): Promise<string> {
  const rendered = await helm(
    ['template', 'nimbus', CHART_DIR, '--namespace', 'nimbus', '--show-only', 'templates/nats.yaml'],
    {
      cwd: REPO_ROOT,
    },
  );
  assert.equal(rendered.code, 0, rendered.stderr);
  for (const doc of parseAllDocuments(rendered.stdout)) {
    const object = doc.toJS() as { kind?: string; data?: Record<string, string> } | null;
    const conf = object?.kind === 'ConfigMap' ? object.data?.['authorization.conf'] : undefined;
    if (conf !== undefined) return conf;
  }
  throw new Error('the chart rendered no NATS ConfigMap with authorization.conf');
}

const USERS = {
  gateway: 'nimbus-gateway',
  controller: 'nimbus-controller',
  publisher: 'nimbus-publisher',
} as const;
type Role = keyof typeof USERS;
const enc = (text: string) => new TextEncoder().encode(text);

/** A JetStream API request as a raw client makes it; resolves with the server's answer or rejects. */
async function jsRequest(nc: NatsConnection, subject: string, body: unknown = {}): Promise<unknown> {
  const reply = await nc.request(subject, enc(JSON.stringify(body)), { timeout: 2_000 });
  return JSON.parse(new TextDecoder().decode(reply.data)) as unknown;
}

const DENIED = /Permissions Violation/;

describe('attack: NATS lets in only Nimbus’s users, each with least privilege (the chart’s authorization on a real nats-server)', function () {
  this.timeout(60_000);
  let server: NatsServer;
  const passwords = {} as Record<Role, string>;
  let gateway: JetStreamBus;
  let controller: JetStreamBus;
  /** The identity an app (or a function, were it given one) publishing trigger events has. */
  let publisher: NatsConnection;
  let controllerRaw: NatsConnection;
  let gatewayRaw: NatsConnection;

  const login = (role: Role) => ({ user: USERS[role], pass: passwords[role] });
  /** How many messages a stream holds, from the server's monitor (no NATS user needed). */
  const stored = async (stream: string): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${server.monitorPort}/jsz?streams=true`);
    const body = (await res.json()) as {
      account_details?: { stream_detail?: { name: string; state: { messages: number } }[] }[];
    };
    const found = body.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream);
    return found?.state.messages ?? 0;
  };

  before(async () => {
    const config = await chartAuthorization();
    for (const role of Object.keys(USERS) as Role[]) passwords[role] = `n${randomBytes(18).toString('hex')}`;
    server = await startNatsServer({
      config,
      env: {
        NATS_GATEWAY_PASSWORD: passwords.gateway,
        NATS_CONTROLLER_PASSWORD: passwords.controller,
        NATS_PUBLISHER_PASSWORD: passwords.publisher,
      },
    });
    // The scene, set up by the components themselves: the gateway's streams holding a queued call
    // and a dead letter, the controller's events stream with a trigger durable.
    gateway = await JetStreamBus.connect({
      servers: server.url,
      ...login('gateway'),
      inboxPrefix: NATS_INBOX_PREFIX.gateway,
    });
    controller = await JetStreamBus.connect({
      servers: server.url,
      ...login('controller'),
      inboxPrefix: NATS_INBOX_PREFIX.controller,
    });
    await gateway.ensureStream(callsStreamConfig());
    await gateway.ensureStream(deadLetterStreamConfig());
    await gateway.ensureConsumer(callsConsumerConfig());
    await gateway.publish('nimbus.calls.default.vault', enc('a real call'), { msgId: 'real-1' });
    await gateway.publish('nimbus.dlq.default.vault', enc('a dead letter with its request body'), {
      msgId: 'dl-1',
    });
    await controller.ensureStream(
      eventsStreamConfig(['shop.>']) as NonNullable<ReturnType<typeof eventsStreamConfig>>,
    );
    await controller.ensureConsumer(
      triggerConsumerConfig({ namespace: 'default', function: 'vault', subject: 'shop.>', maxDeliver: 3 }),
    );
    publisher = await connect({ servers: server.url, ...login('publisher') });
    controllerRaw = await connect({
      servers: server.url,
      ...login('controller'),
      inboxPrefix: NATS_INBOX_PREFIX.controller,
    });
    gatewayRaw = await connect({
      servers: server.url,
      ...login('gateway'),
      inboxPrefix: NATS_INBOX_PREFIX.gateway,
    });
  });

  after(async () => {
    await Promise.all([publisher?.close(), controllerRaw?.close(), gatewayRaw?.close()]);
    await Promise.all([gateway?.close(), controller?.close()]);
    await server?.stop();
  });

  it('the chart renders the permissions the components and the test harness use (one definition)', async () => {
    assert.equal(
      await readFile(join(REPO_ROOT, NATS_PERMISSIONS_FILE), 'utf8'),
      chartNatsPermissionsJson(),
      `${NATS_PERMISSIONS_FILE} is stale: run npm run manifests`,
    );
    const config = await chartAuthorization();
    assert.doesNotMatch(config, /no_auth_user/, 'no anonymous fallback user');
    assert.match(
      config,
      /password: \$NATS_GATEWAY_PASSWORD/,
      'passwords come from the environment, not the ConfigMap',
    );
  });

  it('refuses an anonymous client and a wrong password', async () => {
    await assert.rejects(JetStreamBus.connect({ servers: server.url }), (err: Error) => {
      assert.ok(err instanceof BusUnavailableError);
      assert.match(err.message, /Authorization Violation/);
      return true;
    });
    await assert.rejects(connect({ servers: server.url }), /Authorization Violation/);
    await assert.rejects(
      connect({ servers: server.url, user: USERS.gateway, pass: 'not-the-password' }),
      /Authorization Violation/,
    );
  });

  it('a publisher cannot queue a call: the JetStream publish and a plain publish are denied, and nothing is stored', async () => {
    const before = await stored(CALLS_STREAM);
    const js = publisher.jetstream({ timeout: 2_000 });
    await assert.rejects(
      js.publish('nimbus.calls.default.vault', enc('forged'), { msgID: 'forged-1' }),
      DENIED,
    );
    publisher.publish('nimbus.calls.default.vault', enc('forged, fire and forget'));
    await publisher.flush();
    assert.equal(await stored(CALLS_STREAM), before, 'no forged call in NIMBUS_CALLS');
    await assert.rejects(js.publish('nimbus.dlq.default.vault', enc('forged dead letter')), DENIED);
    assert.equal(await stored(DEAD_LETTER_STREAM), 1, 'no forged dead letter');
    // Events on its own subjects still go through: the denial is exactly Nimbus's subjects.
    const ack = await js.publish('shop.orders', enc('{"order":1}'));
    assert.equal(ack.stream, EVENTS_STREAM);
  });

  it("a publisher cannot forge a JetStream acknowledgement into the gateway's inbox, where the bus takes its publishes' acks", async () => {
    // The bus settles a publish on the first answer in its own inbox (publish-acks.ts): a forged
    // `{"stream":…}` there would tell the gateway a call was stored that was not.
    const forgedTo = `${NATS_INBOX_PREFIX.gateway}.forged.1`;
    const seen: string[] = [];
    const watch = gatewayRaw.subscribe(`${NATS_INBOX_PREFIX.gateway}.forged.*`, {
      callback: (_err, msg) => seen.push(msg.subject),
    });
    await gatewayRaw.flush();
    const refusals: string[] = [];
    const statuses = (async () => {
      for await (const status of publisher.status())
        if (status.permissionContext?.subject === forgedTo) {
          refusals.push(status.permissionContext.operation);
          return;
        }
    })();
    publisher.publish(forgedTo, enc(`{"stream":"${CALLS_STREAM}","seq":999999}`));
    await publisher.flush();
    await eventually(async () => (refusals.length > 0 ? true : undefined), 5_000, 'the server refusing it');
    await gatewayRaw.flush();
    watch.unsubscribe();
    assert.deepEqual(refusals, ['publish']);
    assert.deepEqual(seen, [], 'nothing reached the inbox');
    await statuses;
  });

  it('a publisher cannot read NIMBUS_CALLS or NIMBUS_DLQ: stream info, consumers, pulls, direct gets and subscriptions are denied', async () => {
    for (const stream of [CALLS_STREAM, DEAD_LETTER_STREAM]) {
      await assert.rejects(jsRequest(publisher, `$JS.API.STREAM.INFO.${stream}`), DENIED);
      await assert.rejects(jsRequest(publisher, `$JS.API.STREAM.MSG.GET.${stream}`, { seq: 1 }), DENIED);
      await assert.rejects(jsRequest(publisher, `$JS.API.DIRECT.GET.${stream}`, { seq: 1 }), DENIED);
      await assert.rejects(
        jsRequest(publisher, `$JS.API.CONSUMER.CREATE.${stream}`, {
          stream_name: stream,
          config: { ack_policy: 'none' },
        }),
        DENIED,
      );
      await assert.rejects(
        jsRequest(publisher, `$JS.API.CONSUMER.CREATE.${stream}.spy`, {
          stream_name: stream,
          config: { durable_name: 'spy', ack_policy: 'explicit' },
        }),
        DENIED,
      );
    }
    await assert.rejects(
      jsRequest(publisher, `$JS.API.CONSUMER.MSG.NEXT.${CALLS_STREAM}.${CALLS_CONSUMER}`, { batch: 1 }),
      DENIED,
    );
    await assert.rejects(jsRequest(publisher, `$JS.API.STREAM.PURGE.${CALLS_STREAM}`), DENIED);
    for (const subject of ['nimbus.calls.>', 'nimbus.dlq.>', '>', `${NATS_INBOX_PREFIX.gateway}.>`]) {
      const sub = publisher.subscribe(subject);
      await assert.rejects(
        (async () => {
          for await (const _ of sub) return;
        })(),
        DENIED,
        `subscribing to ${subject}`,
      );
    }
    assert.equal(await stored(CALLS_STREAM), 1, 'the real call is still there');
  });

  it('the controller can neither queue a call nor read calls or dead letters', async () => {
    await assert.rejects(controller.publish('nimbus.calls.default.vault', enc('forged')), DENIED);
    for (const stream of [CALLS_STREAM, DEAD_LETTER_STREAM]) {
      await assert.rejects(jsRequest(controllerRaw, `$JS.API.STREAM.INFO.${stream}`), DENIED);
      await assert.rejects(jsRequest(controllerRaw, `$JS.API.DIRECT.GET.${stream}`, { seq: 1 }), DENIED);
    }
    await assert.rejects(controller.consumerInfo(CALLS_STREAM, CALLS_CONSUMER), DENIED);
    // Nor pull what the triggers hold: it manages durables, it does not read messages.
    const trigger = (await controller.listConsumers(EVENTS_STREAM))[0]?.config.name as string;
    await assert.rejects(
      jsRequest(controllerRaw, `$JS.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.${trigger}`, { batch: 1 }),
      DENIED,
    );
  });

  it('the gateway cannot do what only the controller does, nor delete or purge its own streams', async () => {
    await assert.rejects(
      gateway.ensureConsumer(
        triggerConsumerConfig({ namespace: 'default', function: 'other', subject: 'shop.x', maxDeliver: 2 }),
      ),
      DENIED,
    );
    await assert.rejects(gateway.ensureStream(eventsStreamConfig(['shop.>', 'more.>']) as never), DENIED);
    const trigger = (await controller.listConsumers(EVENTS_STREAM))[0]?.config.name as string;
    await assert.rejects(gateway.deleteConsumer(EVENTS_STREAM, trigger), DENIED);
    await assert.rejects(gateway.deleteStream(CALLS_STREAM), DENIED);
    await assert.rejects(jsRequest(gatewayRaw, `$JS.API.STREAM.PURGE.${DEAD_LETTER_STREAM}`), DENIED);
    // Nor read dead letters back (the admin API keeps them in Redis), nor publish trigger events.
    await assert.rejects(
      jsRequest(gatewayRaw, `$JS.API.DIRECT.GET.${DEAD_LETTER_STREAM}`, { seq: 1 }),
      DENIED,
    );
    await assert.rejects(gateway.publish('shop.orders', enc('x')), DENIED);
  });

  it('nothing was disturbed: the gateway still pulls the real call, and the trigger durable has the real event', async () => {
    const seen: string[] = [];
    const subscription = gateway.consume(CALLS_STREAM, CALLS_CONSUMER, async (message) => {
      seen.push(new TextDecoder().decode(message.data));
      await message.ack();
    });
    try {
      await eventually(async () => (seen.length > 0 ? true : undefined), 10_000, 'the real call');
    } finally {
      await subscription.stop();
    }
    assert.deepEqual(seen, ['a real call']);
    const trigger = (await controller.listConsumers(EVENTS_STREAM))[0];
    assert.equal(trigger?.pending, 1, 'the one real event, no forged one');
    assert.equal(await stored(DEAD_LETTER_STREAM), 1);
  });
});
