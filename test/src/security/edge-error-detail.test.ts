import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, LocalModeProcess } from '../harness/local-mode-process.js';
import { EDGE_INVOKE_KEY, type EdgeGateway, EdgeReplica, startEdgeGateway } from './edge-replica.js';

/**
 * Item 10 of issue 11: a thrown error's message (here a connection string with a password) went
 * into the 500 body, and a handler's load error into every caller's 503. With the cluster setting
 * (NIMBUS_ERROR_DETAIL=none, what the controller hands function pods by default) callers get the
 * invocation id and a generic message; the detail stays in the replica's log, under that id.
 */
const SECRET = 'postgres://user:secret@db';
const THROWS = `export default async () => { throw new Error('${SECRET}'); };`;
const FAILS_TO_LOAD = `throw new Error('cannot connect to ${SECRET}');\nexport default async () => 'never';`;
const key = { authorization: `Bearer ${EDGE_INVOKE_KEY}` };

/** The whole answer as a caller sees it, headers included, to look for the secret in. */
const everything = (reply: { status: number; headers: Record<string, unknown>; text: string }) =>
  `${reply.status} ${JSON.stringify(reply.headers)} ${reply.text}`;

describe('edge: a function’s error text stays out of callers’ answers (issue 11, item 10)', function () {
  this.timeout(30_000);
  let throwing: EdgeReplica;
  let broken: EdgeReplica;
  let gateway: EdgeGateway;

  before(async () => {
    throwing = await EdgeReplica.start(THROWS, { NIMBUS_ERROR_DETAIL: 'none', NIMBUS_DEBUG: 'true' });
    broken = await EdgeReplica.start(FAILS_TO_LOAD, { NIMBUS_ERROR_DETAIL: 'none' });
    assert.equal(broken.loaded, false, 'the broken handler does not load');
    gateway = await startEdgeGateway();
    gateway.route('throws', [throwing]);
    gateway.route('broken', [broken]);
  });

  after(async () => {
    await gateway?.close();
    await Promise.all([throwing?.stop(), broken?.stop()]);
  });

  it('answers a thrown error 500 with the invocation id and a generic message; the log has the error', async () => {
    const reply = await send(gateway.base, '/function/throws', {
      headers: { ...key, 'x-call-id': 'edge-throw-1' },
    });
    assert.equal(reply.status, 500);
    assert.ok(!everything(reply).includes('secret'), everything(reply));
    const body = reply.json<Record<string, unknown>>();
    assert.equal(body.invocationId, 'edge-throw-1');
    assert.equal(body.code, 'FunctionError');
    assert.equal(body.stack, undefined, 'no stack, even with NIMBUS_DEBUG');
    const line = await throwing.waitForLog(
      (l) => l.msg === 'handler failed' && l.invocationId === 'edge-throw-1',
    );
    assert.match(JSON.stringify(line.error), /postgres:\/\/user:secret@db/);
  });

  it('answers a load failure 503 without its reason, to every caller; the log and /_/ready have it', async () => {
    for (const id of ['edge-load-1', 'edge-load-2']) {
      const reply = await send(gateway.base, '/function/broken', { headers: { ...key, 'x-call-id': id } });
      assert.equal(reply.status, 503);
      assert.ok(!everything(reply).includes('secret'), everything(reply));
      const body = reply.json<Record<string, unknown>>();
      assert.deepEqual([body.code, body.invocationId, body.reason], ['HandlerUnavailable', id, undefined]);
    }
    const line = await broken.waitForLog((l) => l.msg === 'handler failed to load');
    assert.match(String(line.reason), /cannot connect to postgres:\/\/user:secret@db/);
    // The platform's own view (probes, the controller), which the gateway never forwards.
    const ready = await send(broken.base, '/_/ready');
    assert.match(String(ready.json<{ reason: string }>().reason), /secret@db/);
  });

  it('keeps the detail with NIMBUS_ERROR_DETAIL=full, the operator’s choice', async () => {
    const open = await EdgeReplica.start(THROWS, { NIMBUS_ERROR_DETAIL: 'full' });
    try {
      const reply = await send(open.base, '/');
      assert.deepEqual([reply.status, reply.json<{ error: string }>().error], [500, SECRET]);
    } finally {
      await open.stop();
    }
  });

  describe('in local mode with NIMBUS_ERROR_DETAIL=none', () => {
    let platform: LocalModeProcess;
    let dir: string;
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };

    before(async () => {
      dir = await functionsFolder({
        'throws.yaml': inlineFunction('throws', THROWS),
        'broken.yaml': inlineFunction('broken', FAILS_TO_LOAD),
      });
      platform = await LocalModeProcess.start(dir, { NIMBUS_ERROR_DETAIL: 'none' });
      await eventually(
        async () => {
          const fn = await send(platform.url, '/system/functions/broken', { headers: admin });
          return fn.status === 200 && fn.text.includes('handler failed to load') ? true : undefined;
        },
        15_000,
        'the broken function to report its load failure',
      );
    });

    after(async () => {
      await platform?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('tells callers neither the thrown error nor the load failure; the admin API has the reason', async () => {
      const thrown = await send(platform.url, '/function/throws');
      assert.equal(thrown.status, 500);
      assert.ok(!everything(thrown).includes('secret'), everything(thrown));
      assert.equal(thrown.json<{ invocationId: string }>().invocationId, thrown.headers['x-call-id']);

      const unloaded = await send(platform.url, '/function/broken');
      assert.equal(unloaded.status, 503);
      assert.ok(!everything(unloaded).includes('secret'), everything(unloaded));
      assert.match(unloaded.json<{ error: string }>().error, /handler failed to load/);

      const status = await send(platform.url, '/system/functions/broken', { headers: admin });
      assert.match(status.text, /secret@db/, 'the Function status keeps the reason, for admins');
    });
  });
});
