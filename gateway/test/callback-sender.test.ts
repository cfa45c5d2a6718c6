import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@nimbus/api';
import { ManualClock, eventually, freePort } from '@nimbus/testkit';
import { CallbackSender } from '../src/async/callback-sender.js';
import { readEgressConfig } from '../src/egress/egress-config.js';
import { EgressGuard } from '../src/egress/egress-guard.js';

/** The receivers listen on loopback, which the default policy refuses. */
const loopbackAllowed = new EgressGuard({
  config: readEgressConfig({ NIMBUS_EGRESS_ALLOW: 'loopback' }),
  platform: () => ({ endpoints: [], localPorts: new Set() }),
});

interface Hit {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const result = (url: string) => ({
  url,
  callId: 'call-1',
  outcome: 'failed' as const,
  functionStatus: 503,
  durationMs: 1234.5,
  contentType: 'application/json',
  body: new TextEncoder().encode('{"error":"x"}'),
});

describe('CallbackSender: POSTs a result to X-Callback-Url (a real receiver, waits on a ManualClock)', () => {
  let clock: ManualClock;
  let warnings: Record<string, unknown>[];
  let sender: CallbackSender | undefined;
  let receiver: Server | undefined;
  let hits: Hit[];

  /** A receiver that answers attempt n (0-based) with `answer(n)`; undefined: never answers. */
  const receive = async (answer: (n: number) => number | undefined): Promise<string> => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = answer(hits.length);
        hits.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (status === undefined) return;
        res.statusCode = status;
        res.end('ignored');
      });
    });
    await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=secret`;
  };
  const start = (attempts: number, timeoutMs = 2_000) => {
    sender = new CallbackSender(
      { callbackAttempts: attempts, callbackTimeoutMs: timeoutMs },
      createLogger({}, 'warn', (line) => warnings.push(JSON.parse(line))),
      { clock, retryBaseMs: 500, egress: loopbackAllowed },
    );
    return sender;
  };
  const gaveUp = () => eventually(() => warnings[0], 5_000, 'the give-up warning');
  /** A retry is waiting on the clock. */
  const waiting = () => eventually(() => (clock.pending === 1 ? true : undefined), 5_000, 'a retry to wait');
  const close = async () => {
    await sender?.close();
    sender = undefined;
  };
  const hitCount = (n: number) =>
    eventually(() => (hits.length === n ? true : undefined), 5_000, `${n} POSTs`);

  beforeEach(() => {
    clock = new ManualClock();
    warnings = [];
    hits = [];
  });

  afterEach(async () => {
    await sender?.close();
    const server = receiver;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    sender = undefined;
    receiver = undefined;
  });

  it('sends the call headers and body, and tries a 503 three times, 500 ms then 1 s apart', async () => {
    const url = await receive(() => 503);
    start(3).send(result(url));
    await hitCount(1);
    await waiting();
    clock.advance(499);
    assert.equal(clock.pending, 1, 'not yet');
    clock.advance(1);
    await hitCount(2);
    await waiting();
    clock.advance(999);
    assert.equal(hits.length, 2, 'the second wait is twice the first');
    clock.advance(1);
    await hitCount(3);
    const warning = await gaveUp();
    assert.equal(warning.error, 'the receiver answered 503');
    assert.equal(warning.callId, 'call-1');
    assert.equal(warning.url, `${url.split('?')[0]}`, 'logged without its query');
    assert.equal(clock.pending, 0, 'no fourth attempt');
    for (const hit of hits) {
      assert.equal(hit.url, '/hook?token=secret');
      assert.equal(hit.body, '{"error":"x"}');
      assert.equal(hit.headers['x-call-id'], 'call-1');
      assert.equal(hit.headers['x-call-status'], 'failed');
      assert.equal(hit.headers['x-function-status'], '503');
      assert.equal(hit.headers['x-duration-seconds'], '1.234500');
      assert.equal(hit.headers['content-type'], 'application/json');
    }
  });

  it('retries 408 and 429 as well, and stops at the first 2xx without a warning', async () => {
    const url = await receive((n) => [408, 429, 204][n]);
    start(5).send(result(url));
    await hitCount(1);
    await waiting();
    clock.advance(500);
    await hitCount(2);
    await waiting();
    clock.advance(1_000);
    await hitCount(3);
    await eventually(() => (clock.pending === 0 ? true : undefined), 5_000, 'no retry after the 204');
    await close();
    assert.equal(hits.length, 3);
    assert.deepEqual(warnings, []);
  });

  it('gives up at once on an answer that refuses what was sent (400)', async () => {
    const url = await receive(() => 400);
    start(3).send(result(url));
    const warning = await gaveUp();
    assert.equal(warning.error, 'the receiver answered 400');
    assert.equal(hits.length, 1);
    assert.equal(clock.pending, 0, 'no retry waiting');
  });

  it('times out each attempt after NIMBUS_CALLBACK_TIMEOUT_MS and tries again', async () => {
    const url = await receive(() => undefined);
    start(2, 100).send(result(url));
    await hitCount(1);
    await waiting();
    clock.advance(500);
    await hitCount(2);
    const warning = await gaveUp();
    assert.equal(warning.error, 'UND_ERR_HEADERS_TIMEOUT');
  });

  it('tries a receiver that refuses connections again, then gives up naming the error', async () => {
    const url = `http://127.0.0.1:${await freePort()}/hook`;
    start(2).send(result(url));
    await waiting();
    clock.advance(500);
    const warning = await gaveUp();
    assert.equal(warning.error, 'ECONNREFUSED');
  });

  it('close() drops a callback waiting for its retry without waiting it out', async () => {
    const url = await receive(() => 503);
    start(3).send(result(url));
    await waiting();
    await close();
    assert.equal(clock.pending, 0, 'the wait was cleared');
    assert.equal(hits.length, 1);
    assert.equal((await gaveUp()).error, 'the receiver answered 503');
  });
});
