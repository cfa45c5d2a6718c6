import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Condition, TriggerStatus } from '@nimbus/api';
import { secretEnvName } from '@nimbus/gateway';
import { type MosquittoServer, eventually, send, startMosquittoServer } from '@nimbus/testkit';
import mqtt from 'mqtt';
import { admin } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, startSecuredNats } from '../harness/nats.js';

const USER = 'device-login';
const PASSWORD = `right-${randomBytes(9).toString('hex')}`;
const WRONG = `wrong-${randomBytes(9).toString('hex')}`;
const UNPARSABLE = `unparsable-${randomBytes(9).toString('hex')}`;

const mqttTrigger = (name: string, secret: string) =>
  `  - name: ${name}\n    mqtt:\n      connection: { name: ${secret}, key: url }\n      topics: ['sensors/#']`;

const SENSORS = inlineFunction(
  'sensors',
  'export default async () => ({ ok: true });',
  `scale:\n  min: 1\n  max: 1\ntriggers:\n${[
    mqttTrigger('telemetry', 'broker'),
    mqttTrigger('wrong-login', 'broker-wrong'),
    mqttTrigger('bad-url', 'broker-bad'),
    // The faults test/src/cluster/source-triggers.test.ts gives a cluster: the same words come back.
    "  - name: wrong-scheme\n    postgres:\n      connection: { name: shop-db, key: url }\n      tables: ['orders']",
    '  - name: unset\n    webhook:\n      secret: { name: hook-unset, key: secret }',
  ].join('\n')}`,
);

/** What a cluster's controller says of a Postgres trigger whose Secret holds a URL of another scheme. */
const WRONG_SCHEME = {
  url: 'http://db.example:5432/shop',
  reason: 'TriggerMisconfigured',
  message: 'spec.triggers[wrong-scheme]: is a http: URL, not postgres://',
};

interface Described {
  status?: { conditions?: Condition[]; triggers?: TriggerStatus[] };
}

/**
 * Local mode's status of source triggers (GET /system/functions/{name}): the shape a cluster's
 * controller writes, fed by the gateway's own readers, and never a password from a Secret.
 */
describe('local mode: each source trigger has a health in the Function status', function () {
  this.timeout(120_000);
  let nats: SecuredNats;
  let mosquitto: MosquittoServer;
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    [nats, mosquitto] = await Promise.all([
      startSecuredNats(),
      startMosquittoServer({ user: { user: USER, password: PASSWORD } }),
    ]);
    // The broker is down when the gateway starts.
    await mosquitto.pause();
    const at = `127.0.0.1:${mosquitto.port}`;
    dir = await functionsFolder({ 'sensors.yaml': SENSORS });
    platform = await LocalModeProcess.start(dir, {
      ...nats.env('local'),
      NIMBUS_WARM_POOL_SIZE: '0',
      [secretEnvName('broker', 'url')]: `mqtt://${USER}:${PASSWORD}@${at}`,
      [secretEnvName('broker-wrong', 'url')]: `mqtt://${USER}:${WRONG}@${at}`,
      // A port out of range: the URL does not parse, and its error must not quote it.
      [secretEnvName('broker-bad', 'url')]: `mqtt://${USER}:${UNPARSABLE}@127.0.0.1:99999`,
      [secretEnvName('shop-db', 'url')]: WRONG_SCHEME.url,
    });
  });

  after(async function () {
    this.timeout(60_000);
    await platform?.stop();
    await Promise.all([nats?.stop(), mosquitto?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const described = async (): Promise<{ text: string; fn: Described }> => {
    const reply = await send(platform.url, '/system/functions/sensors', { headers: admin });
    assert.equal(reply.status, 200, reply.text);
    return { text: reply.text, fn: reply.json<Described>() };
  };
  const trigger = (fn: Described, name: string) => fn.status?.triggers?.find((t) => t.name === name);

  /** Polls the status until `enough` holds for the named trigger. */
  const until = (name: string, what: string, enough: (t: TriggerStatus) => boolean) =>
    eventually(
      async () => {
        const { fn } = await described();
        const t = trigger(fn, name);
        return t !== undefined && enough(t) ? fn : undefined;
      },
      60_000,
      `${name}: ${what}`,
    );

  it('a trigger whose broker is down shows not connected, with the error; TriggersReady is false', async () => {
    const fn = await until(
      'telemetry',
      'not connected with an error',
      (t) => t.connected === false && !!t.lastError,
    );
    const t = trigger(fn, 'telemetry') as TriggerStatus;
    assert.equal(t.kind, 'mqtt');
    assert.equal(t.ready, false);
    assert.equal(t.reason, 'Disconnected');
    assert.match(t.lastError ?? '', /ECONNREFUSED|closed|connect/i);
    assert.equal(t.lastEventTime, undefined);
    const condition = fn.status?.conditions?.find((c) => c.type === 'TriggersReady');
    assert.equal(condition?.status, 'False');
    assert.match(condition?.message ?? '', /mqtt trigger telemetry is not connected/);
  });

  it('once the broker is up: connected, and lastEventTime set by the first event', async () => {
    const started = Date.now();
    await mosquitto.resume();
    let fn = await until('telemetry', 'connected', (t) => t.connected === true);
    const t = trigger(fn, 'telemetry') as TriggerStatus;
    assert.deepEqual([t.ready, t.reason, t.lastError], [true, 'Connected', undefined]);
    const client = await mqtt.connectAsync(mosquitto.url, {
      protocolVersion: 5,
      username: USER,
      password: PASSWORD,
    });
    await client.publishAsync('sensors/kitchen/temperature', '{"celsius":21}', { qos: 1 });
    await client.endAsync();
    fn = await until('telemetry', 'an event handed on', (t) => t.lastEventTime !== undefined);
    const time = Date.parse(String(trigger(fn, 'telemetry')?.lastEventTime));
    // RFC 3339 to the second.
    assert.ok(time >= Math.floor(started / 1000) * 1000 && time <= Date.now(), `lastEventTime ${time}`);
  });

  it('a refused login and an unparsable URL are its configuration: TriggerMisconfigured, no password shown', async () => {
    const misconfigured = (t: TriggerStatus) => t.reason === 'TriggerMisconfigured';
    const refused = await until('wrong-login', 'misconfigured', misconfigured);
    const bad = await until('bad-url', 'misconfigured', misconfigured);
    const login = trigger(refused, 'wrong-login') as TriggerStatus;
    assert.match(
      login.message ?? '',
      /^spec\.triggers\[wrong-login\]: .*(not authori[sz]ed|bad user name or password)/i,
    );
    // As a cluster shows a trigger it could not set up: not ready, no reader's health.
    assert.deepEqual([login.ready, login.connected, login.lastError], [false, undefined, undefined]);
    assert.match(
      trigger(bad, 'bad-url')?.message ?? '',
      /^spec\.triggers\[bad-url\]: spec\.triggers\[bad-url\]\.mqtt\.connection/,
    );
    const list = await send(platform.url, '/system/functions', { headers: admin });
    for (const text of [(await described()).text, list.text])
      for (const secret of [PASSWORD, WRONG, UNPARSABLE, `${USER}:`])
        assert.ok(!text.includes(secret), `the status shows ${secret}: ${text.slice(0, 2000)}`);
    const condition = refused.status?.conditions?.find((c) => c.type === 'TriggersReady');
    assert.equal(condition?.status, 'False');
  });

  it("the cluster's faults get the cluster's reasons and words: a URL of another scheme, a Secret not given", async () => {
    const scheme = await until('wrong-scheme', 'misconfigured', (t) => t.reason === WRONG_SCHEME.reason);
    const t = trigger(scheme, 'wrong-scheme') as TriggerStatus;
    assert.deepEqual([t.ready, t.message], [false, WRONG_SCHEME.message]);
    const unset = await until('unset', 'its Secret not found', (t) => t.reason === 'TriggerSecretNotFound');
    assert.equal(
      trigger(unset, 'unset')?.message,
      `spec.triggers[unset].webhook: Secret hook-unset key secret is not set: give it as ${secretEnvName('hook-unset', 'secret')}`,
    );
    // The webhook's route says the same to the operator, and nothing of it to the sender.
    const hook = await send(platform.url, '/webhook/default/sensors/unset', { method: 'POST', body: '{}' });
    assert.equal(hook.status, 503);
    assert.doesNotMatch(hook.text, /hook-unset|NIMBUS_SECRET/);
    const after = trigger((await described()).fn, 'unset');
    assert.equal(after?.reason, 'TriggerSecretNotFound');
  });
});
