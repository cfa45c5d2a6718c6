import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { eventually, freePort, rawExchange, send } from '@nimbus/testkit';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { ADMIN_KEY, INVOKE_KEY, LocalModeProcess } from '../harness/local-mode-process.js';
import { EdgeReplica } from './edge-replica.js';

/**
 * Item 13 of issue 11: `/metrics` on the gateway's public port named every function, key-protected
 * ones too, to anyone; and `Expect: 100-continue` with a declared body over the limit got
 * `100 Continue` (so the client sent it all) before the 413. Both against local mode, a real
 * process, and the 100-continue one against a runtime replica too.
 */
const HIDDEN = 'ledger-hidden-fn';
const TEN_MIB = 10 * 1024 * 1024;

/** Headers only, with a declared body that is never sent: the answer must come without it. */
const expectContinue = (path: string, length: number) =>
  `POST ${path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/octet-stream\r\n` +
  `Content-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

/** Sends the headers, waits for `100 Continue`, then sends the body: what a well-behaved client does. */
function continuedExchange(base: string, path: string, body: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let sent = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no full answer within 5 s: ${text}`));
    }, 5_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (!sent && text.includes('100 Continue\r\n\r\n')) {
        sent = true;
        socket.write(body);
      }
      if (sent && /\r\n\r\n[\s\S]*HTTP\/1\.1 200/.test(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer ${INVOKE_KEY}\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
  });
}

describe('edge: /metrics and Expect: 100-continue (issue 11, item 13)', function () {
  this.timeout(30_000);
  let platform: LocalModeProcess;
  let dir: string;
  let metricsPort: number;

  before(async () => {
    dir = await functionsFolder({
      'hidden.yaml': inlineFunction(HIDDEN, "export default async () => 'ok';", 'http: { auth: key }'),
      'echo.yaml': inlineFunction('echo', 'export default async (event) => event.rawBody.length;'),
    });
    metricsPort = await freePort();
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_MAX_BODY_BYTES: String(64 * 1024),
      NIMBUS_METRICS_PORT: String(metricsPort),
    });
    const called = await eventually(
      async () => {
        const reply = await send(platform.url, `/function/${HIDDEN}`, {
          headers: { authorization: `Bearer ${INVOKE_KEY}` },
        });
        return reply.status === 200 ? reply : undefined;
      },
      15_000,
      'the key-protected function to answer',
    );
    assert.equal(called.text, 'ok');
  });

  after(async () => {
    await platform?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('does not list a key-protected function on the public /metrics to a caller without the admin key', async () => {
    const anonymous = await send(platform.url, '/metrics');
    assert.deepEqual([anonymous.status, anonymous.json<{ code: string }>().code], [401, 'Unauthenticated']);
    assert.ok(!anonymous.text.includes(HIDDEN));
    const invoker = await send(platform.url, '/metrics', {
      headers: { authorization: `Bearer ${INVOKE_KEY}` },
    });
    assert.deepEqual([invoker.status, invoker.json<{ code: string }>().code], [403, 'Forbidden']);
    assert.ok(!invoker.text.includes(HIDDEN));
    // Nothing else changed: an admin still reads every series.
    const admin = await send(platform.url, '/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(admin.status, 200);
    assert.match(
      admin.text,
      new RegExp(`nimbus_gateway_requests_total\\{function="default/${HIDDEN}",code="200"\\}`),
    );
  });

  it('serves /metrics without a key only on NIMBUS_METRICS_PORT, and nothing else there', async () => {
    const scrape = await send(`http://127.0.0.1:${metricsPort}`, '/metrics');
    assert.equal(scrape.status, 200);
    assert.ok(scrape.text.includes(HIDDEN));
    const other = await send(`http://127.0.0.1:${metricsPort}`, `/function/${HIDDEN}`);
    assert.equal(other.status, 404);
  });

  it('answers a 10 MiB declared body with Expect: 100-continue 413 at once, never 100 (gateway)', async () => {
    const { text, ms } = await rawExchange(platform.url, expectContinue('/function/echo', TEN_MIB), 3_000);
    assert.match(text, /^HTTP\/1\.1 413 /, text);
    assert.ok(!text.includes('100 Continue'), text);
    assert.match(text, /"code":"BodyTooLarge"/);
    assert.ok(ms < 3_000, `answered in ${ms} ms without the body`);
  });

  it('still sends 100 Continue for a body within the limit, and serves it', async () => {
    const text = await continuedExchange(platform.url, '/function/echo', 'x'.repeat(1000));
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  });

  it('answers 413 at once, never 100, on a runtime replica too', async () => {
    const replica = await EdgeReplica.start("export default async () => 'ok';", {
      NIMBUS_MAX_BODY_BYTES: String(64 * 1024),
    });
    try {
      const { text } = await rawExchange(replica.base, expectContinue('/', TEN_MIB), 3_000);
      assert.match(text, /^HTTP\/1\.1 413 /, text);
      assert.ok(!text.includes('100 Continue'), text);
    } finally {
      await replica.stop();
    }
  });
});
