import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { eventually, rawExchange, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, INVOKE_KEY, LocalModeProcess, alive } from '../harness/local-mode-process.js';

const FIXTURES = {
  'hello.yaml': inlineFunction(
    'hello',
    'export default async (event) => `Hello, ${event.query.name ?? "world"}!`;',
  ),
  'inspect.yaml': inlineFunction(
    'inspect',
    `export default async (event, ctx) => ({
  method: event.method, path: event.path, query: event.query,
  headers: event.headers, body: event.body, invocationId: ctx.invocationId, pid: process.pid,
});`,
  ),
  'throws.yaml': inlineFunction('throws', "export default async () => { throw new Error('kaboom'); };"),
  'sleepy.yaml': inlineFunction(
    'sleepy',
    `export default async (event, ctx) => {
  if (event.query.fast) return 'awake';
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  return 'too late';
};`,
    'timeout: 1s',
  ),
  'broken.yaml': inlineFunction('broken', 'export default async () => { this is not javascript'),
  'private.yaml': inlineFunction(
    'private',
    "export default async (event) => event.headers.authorization ?? 'no key seen';",
    'http: { auth: key }',
  ),
  'crashy.yaml': inlineFunction(
    'crashy',
    'export default async (event) => { if (event.query.crash) process.exit(3); return { pid: process.pid }; };',
  ),
  'legacy.yaml': inlineFunction(
    'legacy',
    "module.exports = async (event) => ({ style: 'commonjs', name: event.query.name });",
    'handler: index.cjs.default',
  ),
};

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

describe('local mode, end to end over HTTP', function () {
  this.timeout(30_000);
  let platform: LocalModeProcess;
  let dir: string;

  before(async () => {
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_HEADERS_TIMEOUT_MS: '500',
      NIMBUS_MAX_BODY_BYTES: '65536',
    });
    // Every replica but the broken one turns ready.
    await eventually(
      async () => {
        const list = (await send(platform.url, '/system/functions', { headers: admin })).json<
          { metadata: { name: string }; status: { readyReplicas: number } }[]
        >();
        const ready = list.filter((f) => f.status.readyReplicas > 0).length;
        return ready === Object.keys(FIXTURES).length - 1 ? true : undefined;
      },
      15_000,
      'every good function to have a ready replica',
    );
  });

  after(async () => {
    const code = await platform?.stop();
    assert.equal(code, 0, 'local mode exits 0 on SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a function: GET /function/hello?name=Ada', async () => {
    const reply = await send(platform.url, '/function/hello?name=Ada');
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'Hello, Ada!');
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
  });

  it('passes method, path, query, headers and JSON body, with one call id end to end', async () => {
    const reply = await send(platform.url, '/function/inspect/orders/7?tag=a&tag=b', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-call-id': 'e2e-call-1', traceparent: '00-aa-bb-01' },
      body: JSON.stringify({ qty: 2 }),
    });
    assert.equal(reply.status, 200);
    const seen = reply.json<Record<string, unknown> & { headers: Record<string, string> }>();
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/orders/7');
    assert.deepEqual(seen.query, { tag: ['a', 'b'] });
    assert.deepEqual(seen.body, { qty: 2 });
    assert.equal(seen.invocationId, 'e2e-call-1');
    assert.equal(seen.headers.traceparent, '00-aa-bb-01');
    assert.equal(reply.headers['x-call-id'], 'e2e-call-1');
    assert.ok(Number(reply.headers['x-duration-seconds']) > 0);
  });

  it('answers malformed JSON with 400 JSON and never calls the handler', async () => {
    const reply = await send(platform.url, '/function/inspect', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"qty": ',
    });
    assert.equal(reply.status, 400);
    assert.match(String(reply.json().error), /JSON/);
  });

  it('loads a CommonJS handler', async () => {
    const reply = await send(platform.url, '/function/legacy?name=cjs');
    assert.deepEqual(reply.json(), { style: 'commonjs', name: 'cjs' });
  });

  it('turns a thrown error into 500 JSON without a stack, and the replica keeps serving', async () => {
    const before = (await send(platform.url, '/function/inspect')).json().pid;
    const reply = await send(platform.url, '/function/throws');
    assert.equal(reply.status, 500);
    const body = reply.json();
    assert.equal(body.error, 'kaboom');
    assert.equal(typeof body.invocationId, 'string');
    assert.doesNotMatch(reply.text, /\bat \w|\.mjs:\d/, 'no stack trace in the body');
    assert.equal((await send(platform.url, '/function/throws')).status, 500, 'still answering');
    assert.equal((await send(platform.url, '/function/inspect')).json().pid, before);
  });

  it("answers 504 at the function's timeout, and the replica stays up", async () => {
    const started = Date.now();
    const reply = await send(platform.url, '/function/sleepy');
    const took = Date.now() - started;
    assert.equal(reply.status, 504);
    assert.match(String(reply.json().error), /timed out/);
    assert.ok(took >= 950 && took < 5000, `took ${took} ms for a 1s timeout`);
    const after = await send(platform.url, '/function/sleepy?fast=1');
    assert.equal(after.status, 200);
    assert.equal(after.text, 'awake');
  });

  it('gives 503 JSON with the reason for a handler that fails to load, and logs why', async () => {
    const reply = await send(platform.url, '/function/broken');
    assert.equal(reply.status, 503);
    assert.match(String(reply.json().error), /handler failed to load: .*SyntaxError/);
    const status = (await send(platform.url, '/system/functions/broken', { headers: admin })).json<{
      status: { conditions: { status: string; reason: string; message: string }[] };
    }>().status;
    assert.equal(status.conditions[0]?.status, 'False');
    assert.match(status.conditions[0]?.message ?? '', /SyntaxError/);
    await platform.waitForLog((l) => l.level === 'error' && /SyntaxError/.test(JSON.stringify(l)), 2000);
  });

  it('needs an invoke key for http.auth: key, and keeps the key from the function', async () => {
    assert.equal((await send(platform.url, '/function/private')).status, 401);
    const reply = await send(platform.url, '/function/private', {
      headers: { authorization: `Bearer ${INVOKE_KEY}` },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'no key seen');
  });

  it('restarts a crashed replica with backoff and serves again', async () => {
    const first = (await send(platform.url, '/function/crashy')).json<{ pid: number }>().pid;
    const crash = await send(platform.url, '/function/crashy?crash=1');
    assert.equal(crash.status, 502);
    assert.equal(crash.json().code, 'UpstreamFailed');
    const second = await eventually(
      async () => {
        const reply = await send(platform.url, '/function/crashy');
        return reply.status === 200 ? reply.json<{ pid: number }>().pid : undefined;
      },
      10_000,
      'a restarted replica',
    );
    assert.notEqual(second, first);
    assert.equal(alive(first), false);
    await platform.waitForLog((l) => l.msg === 'replica exited; restarting' && l.code === 3, 1000);
  });

  it('refuses names that are not names, unknown functions and oversized bodies with JSON', async () => {
    for (const path of ['/function/..', '/function/%2e%2e', '/function/a%2fb', '/function/Hello']) {
      const reply = await send(platform.url, path);
      assert.equal(reply.status, 400, path);
      assert.equal(reply.json().code, 'InvalidFunctionName');
    }
    assert.equal((await send(platform.url, '/function/nobody')).status, 404);
    const big = await send(platform.url, '/function/inspect', { method: 'POST', body: Buffer.alloc(65537) });
    assert.equal(big.status, 413);
  });

  it('answers a request line with control characters with 400 JSON', async () => {
    const { text } = await rawExchange(
      platform.url,
      'GET /function/he\x01llo HTTP/1.1\r\nHost: x\r\n\r\n',
      3000,
    );
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /"code":"MalformedRequest"/);
  });

  it('cuts off a client that never finishes its headers', async () => {
    const { text, ms } = await rawExchange(
      platform.url,
      'GET /function/hello HTTP/1.1\r\nHost: x\r\nX-Slow: ',
      5000,
    );
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(ms < 3000, `closed after ${ms} ms; the headers timeout is 500 ms`);
  });

  it('lists functions with their status to an admin only', async () => {
    assert.equal((await send(platform.url, '/system/functions')).status, 401);
    assert.equal(
      (await send(platform.url, '/system/functions', { headers: { authorization: `Bearer ${INVOKE_KEY}` } }))
        .status,
      403,
    );
    const hello = (await send(platform.url, '/system/functions/hello', { headers: admin })).json<{
      spec: { timeout: string };
      status: { readyReplicas: number; url: string; conditions: { type: string; status: string }[] };
    }>();
    assert.equal(hello.spec.timeout, '30s');
    assert.equal(hello.status.readyReplicas, 1);
    assert.equal(hello.status.url, `${platform.url}/function/hello.default`);
    assert.deepEqual(
      hello.status.conditions.map((c) => [c.type, c.status]),
      [['Ready', 'True']],
    );
    const post = await send(platform.url, '/system/functions', {
      method: 'POST',
      headers: admin,
      body: '{}',
    });
    assert.equal(post.status, 405);
    assert.match(String(post.json().error), /reads Functions from the files/);
  });
});
