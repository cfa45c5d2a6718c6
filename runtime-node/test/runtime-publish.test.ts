import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PublishRequest as IpcPublish, PublishReply } from '../src/supervisor-channel.js';
import { TestEventsEndpoint } from './support/events-endpoint.js';
import { removeFunctionDirs } from './support/function-dir.js';
import { request } from './support/http-client.js';
import type { RuntimeProcess } from './support/runtime-process.js';
import { type FunctionSource, RUNTIMES, type RuntimeUnderTest, startRuntime } from './support/runtimes.js';

const TOKEN = 'function-token-of-tests-publisher-0123';
const FUNCTION = { NIMBUS_FUNCTION_NAMESPACE: 'tests', NIMBUS_FUNCTION_NAME: 'publisher' };

/** Publishes `?subject=` (bytes with `?bytes=1`, else `{ n }`) and answers the id, or the error it caught. */
const NODE_PUBLISHER = `export default async (event, ctx) => {
  const q = event.query;
  const data = q.bytes ? Buffer.from([1, 2, 3]) : { n: Number(q.n ?? 1) };
  try {
    return { id: await ctx.publish(q.subject, data, q.type ? { type: q.type } : undefined) };
  } catch (e) {
    return { error: { name: e.name, status: e.status, code: e.code, message: e.message } };
  }
};
`;

const PY_PUBLISHER = `
def data_of(event):
    return b'\\x01\\x02\\x03' if event.query.get('bytes') else {'n': int(event.query.get('n', '1'))}


def caught(e):
    return {'error': {'name': getattr(e, 'name', type(e).__name__), 'status': getattr(e, 'status', None),
                      'code': getattr(e, 'code', None), 'message': str(e)}}


async def handle(event, ctx):
    try:
        return {'id': await ctx.publish(event.query['subject'], data_of(event), type=event.query.get('type'))}
    except Exception as e:
        return caught(e)


def handle_sync(event, ctx):
    try:
        return {'id': ctx.publish(event.query['subject'], data_of(event), type=event.query.get('type'))}
    except Exception as e:
        return caught(e)
`;

function publisherSource(subject: RuntimeUnderTest): FunctionSource {
  if (subject.language === 'node') return { files: { 'index.mjs': NODE_PUBLISHER }, env: {} };
  const handler = subject.handlerKind === 'sync' ? 'main.handle_sync' : 'main.handle';
  return { files: { 'main.py': PY_PUBLISHER }, env: { NIMBUS_HANDLER: handler } };
}

type Answer = { id?: string; error?: { name: string; status: number; code: string; message: string } };

/**
 * ctx.publish against each runtime: in a cluster one POST to the gateway's events endpoint with
 * the function's token (played by a real HTTP server on loopback), in local mode a `publish`
 * request to the supervisor over IPC; the event id comes back, a refusal raises with the gateway's
 * reason and status, and with neither configured the call says so.
 */
function describePublish(subject: RuntimeUnderTest): void {
  describe(`runtime process: ctx.publish (${subject.name})`, function () {
    this.timeout(subject.startTimeoutMs + 15_000);
    const runtimes: RuntimeProcess[] = [];
    const scratch = mkdtempSync(path.join(tmpdir(), 'nimbus-publish-'));
    let endpoint: TestEventsEndpoint;
    let url: string;
    const call = async (runtime: RuntimeProcess, query: string): Promise<Answer> =>
      (await request(runtime.port, `/?${query}`)).json() as Answer;

    async function start(env: Record<string, string>): Promise<RuntimeProcess> {
      const runtime = await startRuntime(subject, publisherSource(subject), { ...FUNCTION, ...env });
      runtimes.push(runtime);
      return runtime;
    }

    before(async () => {
      endpoint = new TestEventsEndpoint(TOKEN, 'tests/publisher');
      url = await endpoint.listen();
    });
    after(async () => {
      await Promise.all(runtimes.map((runtime) => runtime.stop()));
      await endpoint.close();
      removeFunctionDirs();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('posts the event with its token from a file and resolves with the id the gateway gives', async () => {
      const tokenFile = path.join(scratch, 'token');
      writeFileSync(tokenFile, `${TOKEN}\n`);
      const runtime = await start({ NIMBUS_EVENTS_URL: url, NIMBUS_EVENTS_TOKEN_FILE: tokenFile });
      const answer = await call(runtime, 'subject=orders.created&n=7&type=order.created');
      assert.match(String(answer.id), /^event-\d+$/, JSON.stringify(answer));
      const sent = endpoint.requests.at(-1);
      assert.equal(sent?.url, '/v1/events/publish');
      assert.equal(sent?.headers['x-nimbus-function'], 'tests/publisher');
      assert.equal(sent?.headers.authorization, `Bearer ${TOKEN}`);
      assert.deepEqual(sent?.body, { subject: 'orders.created', data: { n: 7 }, type: 'order.created' });
      const bytes = await call(runtime, 'subject=blobs.new&bytes=1');
      assert.ok(bytes.id !== undefined, JSON.stringify(bytes));
      assert.deepEqual(endpoint.requests.at(-1)?.body, { subject: 'blobs.new', dataBase64: 'AQID' });
    });

    it("raises the gateway's refusal by name, with its status, code and reason", async () => {
      const runtime = await start({ NIMBUS_EVENTS_URL: url, NIMBUS_EVENTS_TOKEN: TOKEN });
      const refused = await call(runtime, 'subject=nimbus.calls.tests.other');
      assert.deepEqual(
        [refused.error?.name, refused.error?.status, refused.error?.code],
        ['PublishRefusedError', 403, 'ReservedSubject'],
      );
      assert.match(
        String(refused.error?.message),
        /ctx\.publish nimbus\.calls\.tests\.other: subject .* is reserved/,
      );
      const forged = await start({ NIMBUS_EVENTS_URL: url, NIMBUS_EVENTS_TOKEN: 'not-the-token' });
      const unauthorised = await call(forged, 'subject=orders.created');
      assert.deepEqual([unauthorised.error?.name, unauthorised.error?.status], ['PublishRefusedError', 401]);
    });

    it('takes the state service and its token when only ctx.state is configured', async () => {
      const runtime = await start({ NIMBUS_STATE_URL: url, NIMBUS_STATE_TOKEN: TOKEN });
      const answer = await call(runtime, 'subject=orders.paid');
      assert.ok(answer.id !== undefined, JSON.stringify(answer));
      assert.equal(endpoint.requests.at(-1)?.url, '/v1/events/publish');
    });

    it('fails as unavailable when the gateway does not answer in time, and the handler goes on', async () => {
      const runtime = await start({
        NIMBUS_EVENTS_URL: url,
        NIMBUS_EVENTS_TOKEN: TOKEN,
        NIMBUS_EVENTS_TIMEOUT_MS: '200',
      });
      endpoint.silent = true;
      try {
        const answer = await call(runtime, 'subject=orders.slow');
        assert.equal(answer.error?.name, 'PublishUnavailableError', JSON.stringify(answer));
        assert.match(String(answer.error?.message), /no answer within 200 ms/);
      } finally {
        endpoint.silent = false;
      }
    });

    it('says it is not configured when there is no endpoint and no supervisor', async () => {
      const runtime = await start({});
      const answer = await call(runtime, 'subject=orders.created');
      assert.equal(answer.error?.name, 'PublisherNotConfiguredError');
      assert.match(String(answer.error?.message), /ctx\.publish is not configured for this runtime/);
    });

    it('asks the supervisor over IPC in local mode and resolves with its id, or its refusal', async () => {
      const runtime = await start({ NIMBUS_EVENTS_BACKEND: 'supervisor' });
      const seen: IpcPublish[] = [];
      runtime.child.on('message', (message: IpcPublish) => {
        if (message?.type !== 'publish') return;
        seen.push(message);
        const reply: PublishReply = String(message.event.subject).startsWith('nimbus.')
          ? {
              type: 'publish-result',
              id: message.id,
              ok: false,
              error: {
                name: 'PublishRefusedError',
                message: 'reserved',
                status: 403,
                code: 'ReservedSubject',
              },
            }
          : { type: 'publish-result', id: message.id, ok: true, result: { id: 'local-1', delivered: true } };
        runtime.child.send(reply);
      });
      assert.deepEqual(await call(runtime, 'subject=orders.created&n=2'), { id: 'local-1' });
      assert.deepEqual(seen[0]?.event, { subject: 'orders.created', data: { n: 2 } });
      assert.deepEqual(await call(runtime, 'subject=orders.typed&type=order.created'), { id: 'local-1' });
      assert.deepEqual(seen[1]?.event, { subject: 'orders.typed', data: { n: 1 }, type: 'order.created' });
      const refused = await call(runtime, 'subject=nimbus.dlq.x.y');
      assert.deepEqual([refused.error?.name, refused.error?.status], ['PublishRefusedError', 403]);
    });
  });
}

for (const subject of RUNTIMES) describePublish(subject);
