import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@nimbus/api';
import {
  type BusMessage,
  CALLS_STREAM,
  DEAD_LETTER_STREAM,
  EVENTS_STREAM,
  type JetStreamBus,
  eventsStreamConfig,
} from '@nimbus/bus';
import { type Gateway, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { eventRequest } from '@nimbus/gateway/triggers/trigger-worker';
import { stateToken } from '@nimbus/store';
import { eventually, send } from '@nimbus/testkit';
import { type SecuredNats, TEST_ADMIN, startSecuredNats, untilCallsQueueReady } from '../harness/nats.js';
import { type RuntimeReplica, startRuntimeReplica } from '../harness/runtime-replica.js';
import { fnResource } from './state-fixture.js';

/** The platform's key in this test: function tokens and event seals are made with it. */
const KEY = 'platform-key-of-the-events-attack-tests-0123';
const MAX_BYTES = 64 * 1024;

/**
 * A function as an attacker writes it: ctx.publish, and the events endpoint by hand with any
 * identity, token and body.
 */
const ATTACKER = `import { readFileSync } from 'node:fs';
const ownToken = () => readFileSync(process.env.NIMBUS_EVENTS_TOKEN_FILE, 'utf8').trim();
export default async (event, ctx) => {
  const q = event.query;
  if (event.path === '/publish') {
    try {
      const size = q.size === undefined ? undefined : Number(q.size);
      return { id: await ctx.publish(q.subject, size === undefined ? { hello: 'world' } : 'x'.repeat(size), size === undefined ? undefined : { contentType: 'text/plain' }) };
    } catch (e) {
      return { error: { name: e.name, status: e.status, code: e.code, message: e.message } };
    }
  }
  // By hand: any X-Nimbus-Function, any token, any body, CloudEvent headers of its choosing.
  const token = q.token === 'own' ? ownToken() : (q.token ?? '');
  const res = await fetch(process.env.NIMBUS_EVENTS_URL + '/v1/events/publish', {
    method: 'POST',
    headers: {
      authorization: 'Bearer ' + token,
      'x-nimbus-function': q.as,
      'content-type': 'application/json',
      'ce-source': 'nimbus://team/beta',
      'ce-id': 'chosen-id',
    },
    body: JSON.stringify({ subject: q.subject, data: { forged: true }, source: 'nimbus://team/beta', id: 'chosen-id', 'ce-source': 'nimbus://team/beta' }),
  });
  return { status: res.status, body: await res.json() };
};
`;

type Answer = { id?: string; error?: { name: string; status: number; code: string; message: string } };
type Raw = { status: number; body: { id?: string; error?: string; code?: string } };

/**
 * Attacks by a function on the events it may publish, against real processes: a NATS with the
 * chart's users, a gateway with its internal port (events published as the NATS publisher user),
 * and a runtime replica running the attacker's code with only its own token.
 */
describe('security: a function publishes events only as itself, only on subjects of its own', function () {
  this.timeout(60_000);
  let nats: SecuredNats;
  let admin: JetStreamBus;
  let gateway: Gateway;
  let alpha: RuntimeReplica;
  let dir: string;
  const stored: BusMessage[] = [];

  before(async () => {
    nats = await startSecuredNats();
    admin = await nats.connect(TEST_ADMIN);
    // The controller's part: the events stream over the triggers' subjects, and a durable on it.
    await admin.ensureStream(
      eventsStreamConfig(['uploads.>']) as NonNullable<ReturnType<typeof eventsStreamConfig>>,
    );
    await admin.ensureConsumer({ stream: EVENTS_STREAM, name: 'probe', filterSubject: 'uploads.>' });
    admin.consume(EVENTS_STREAM, 'probe', async (message) => {
      stored.push(message);
      await message.ack();
    });
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_STATE_PORT: '0',
      NIMBUS_STATE_HOST: '127.0.0.1',
      NIMBUS_STATE_KEY: KEY,
      NIMBUS_EVENT_MAX_BYTES: String(MAX_BYTES),
      ...nats.env('gateway'),
      NIMBUS_NATS_EVENTS_USER: 'publisher',
      NIMBUS_NATS_EVENTS_PASSWORD: nats.passwords.publisher,
    });
    const functions = [fnResource('alpha', undefined, ATTACKER), fnResource('beta', undefined, ATTACKER)];
    const container = createGatewayContainer(config, {
      directory: {
        list: () => functions,
        get: (ns, name) => functions.find((f) => f.metadata.namespace === ns && f.metadata.name === name),
      },
      logger: createLogger({ component: 'gateway' }, 'error'),
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    await gateway.listen();
    await untilCallsQueueReady(nats);
    const port = gateway.stateService?.address()?.port;
    assert.ok(port !== undefined, 'the internal port listens');
    dir = await mkdtemp(join(tmpdir(), 'nimbus-events-token-'));
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, stateToken(KEY, 'team', 'alpha'));
    alpha = await startRuntimeReplica({
      host: '127.0.0.1',
      code: ATTACKER,
      name: 'alpha',
      namespace: 'team',
      env: { NIMBUS_EVENTS_URL: `http://127.0.0.1:${port}`, NIMBUS_EVENTS_TOKEN_FILE: tokenFile },
    });
  });

  after(async () => {
    await alpha?.stop();
    await gateway?.close(0);
    await admin?.close();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const call = async <T>(path: string): Promise<T> => {
    const reply = await send(`http://127.0.0.1:${alpha.port}`, path, { timeoutMs: 20_000 });
    assert.equal(reply.status, 200, reply.text);
    return reply.json<T>();
  };
  const messages = async (stream: string) => (await admin.streamState(stream))?.messages ?? 0;

  it("refuses Nimbus's and NATS's own subjects with 403, and nothing is stored anywhere", async () => {
    for (const subject of [
      'nimbus.calls.team.beta',
      'nimbus.>',
      'nimbus.dlq.team.beta',
      '$JS.API.>',
      '$JS.API.STREAM.DELETE.NIMBUS_CALLS',
      '_INBOX.x',
      '$SYS.REQ.SERVER.PING',
    ]) {
      const answer = await call<Answer>(`/publish?subject=${encodeURIComponent(subject)}`);
      assert.deepEqual(
        [answer.error?.name, answer.error?.status, answer.error?.code],
        ['PublishRefusedError', 403, 'ReservedSubject'],
        subject,
      );
    }
    assert.equal(await messages(CALLS_STREAM), 0, 'no call queued');
    assert.equal(await messages(DEAD_LETTER_STREAM), 0, 'no dead letter written');
    assert.ok((await admin.streamState(CALLS_STREAM)) !== undefined, 'the calls stream is still there');
    assert.deepEqual(nats.violations(), [], 'nothing even reached NATS to be denied');
  });

  it("refuses a forged token, another function's token and none with 401", async () => {
    for (const [as, token] of [
      ['team/alpha', 'forged-token-0123456789'],
      ['team/beta', 'own'],
      ['team/alpha', ''],
    ] as const) {
      const raw = await call<Raw>(`/raw?subject=uploads.new&as=${encodeURIComponent(as)}&token=${token}`);
      assert.equal(raw.status, 401, `${as} with ${token || 'no token'}: ${JSON.stringify(raw.body)}`);
      assert.equal(raw.body.code, 'InvalidStateToken');
    }
    assert.equal(stored.length, 0);
  });

  it('sets the publisher itself: no body field or header makes the event come from another function', async () => {
    const raw = await call<Raw>('/raw?subject=uploads.new&as=team/alpha&token=own');
    assert.equal(raw.status, 202, JSON.stringify(raw.body));
    assert.notEqual(raw.body.id, 'chosen-id');
    const message = await eventually(() => stored.find((m) => m.id === raw.body.id), 10_000, 'the event');
    assert.equal(message.headers['ce-source'], 'nimbus://team/alpha');
    // What a function with a trigger on the subject gets: alpha as the source, the gateway's id.
    const request = eventRequest(message, KEY);
    assert.equal(request.headers['ce-source'], 'nimbus://team/alpha');
    assert.equal(request.headers['ce-id'], raw.body.id);
  });

  it("does not vouch for an app that copies a function's seal onto its own message", async () => {
    const own = await call<Answer>('/publish?subject=uploads.new');
    const real = await eventually(() => stored.find((m) => m.id === own.id), 10_000, 'the real event');
    // An app logged in as the publisher user, with the headers of alpha's event.
    const app = await nats.connect('publisher');
    try {
      await app.publish('uploads.new', new TextEncoder().encode('{"forged":true}'), {
        msgId: 'app-event-1',
        headers: Object.fromEntries(
          Object.entries(real.headers).filter(([name]) => !name.startsWith('Nats-')),
        ),
      });
    } finally {
      await app.close();
    }
    const forged = await eventually(
      () => stored.find((m) => m.id === 'app-event-1'),
      10_000,
      'the app event',
    );
    const request = eventRequest(forged, KEY);
    assert.equal(request.headers['ce-source'], EVENTS_STREAM, 'the stream, as for any plain message');
  });

  it('refuses data over the limit with 413, by ctx.publish and by Content-Length, and stores nothing', async () => {
    const before = stored.length;
    const answer = await call<Answer>(`/publish?subject=uploads.big&size=${MAX_BYTES + 1}`);
    assert.deepEqual([answer.error?.name, answer.error?.status], ['PublishRefusedError', 413]);
    assert.match(
      String(answer.error?.message),
      new RegExp(`${MAX_BYTES + 1} bytes, the limit is ${MAX_BYTES}`),
    );
    const port = gateway.stateService?.address()?.port;
    const huge = await send(`http://127.0.0.1:${port}`, '/v1/events/publish', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stateToken(KEY, 'team', 'alpha')}`,
        'x-nimbus-function': 'team/alpha',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ subject: 'uploads.big', data: 'y'.repeat(4 * MAX_BYTES) }),
    });
    assert.equal(huge.status, 413, huge.text);
    const ok = await call<Answer>('/publish?subject=uploads.after');
    await eventually(() => stored.find((m) => m.id === ok.id), 10_000, 'the event after');
    assert.equal(stored.length, before + 1, 'only the event after the refusals');
  });

  it('refuses the token of a function the gateway does not know (deleted) with 403', async () => {
    const port = gateway.stateService?.address()?.port;
    const reply = await send(`http://127.0.0.1:${port}`, '/v1/events/publish', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stateToken(KEY, 'team', 'ghost')}`,
        'x-nimbus-function': 'team/ghost',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ subject: 'uploads.new', data: 1 }),
    });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json<{ code: string }>().code, 'UnknownFunction');
  });
});
