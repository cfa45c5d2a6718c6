import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisConnection } from '@nimbus/store';
import {
  type NatsServer,
  type RedisServer,
  eventually,
  send,
  startNatsServer,
  startRedisServer,
} from '@nimbus/testkit';
import { admin, callReaches, inParallel, postAsync } from '../harness/async-calls.js';
import { functionsFolder, inlineFunction } from '../harness/fixtures.js';
import { LocalModeProcess } from '../harness/local-mode-process.js';

/*
 * Issue 11 item 5, "Unbounded memory from one caller", as an attacker tries it against local mode
 * with a real Redis and NATS JetStream: a function's huge answer to an async call must not be held
 * in the gateway (stored truncated, streamed to a callback), and failing calls must not fill Redis
 * with dead letters.
 */

const MiB = 1024 * 1024;
/** The answer's size: what took the gateway from 100 MiB to 1.3 GiB before. */
const HUGE = 256 * MiB;
/** The repeating bytes of the answer, so the receiver can check every byte it counts. */
const PATTERN = 'nimbus-';
/** How much the gateway's RSS may grow while it passes HUGE bytes on. */
const RSS_BUDGET = 100 * MiB;
const MAX_DEAD_LETTERS = 5;
const DEAD_LETTER_BODY = 1024;

/**
 * `?mb=n`: n MiB of PATTERN. The runtime cannot stream a handler's answer, so the replica builds
 * it once and keeps it; it is the gateway's memory, another process, that the test watches.
 */
const BIG = `const made = new Map();
export default async (event) => {
  const size = Number(event.query.mb) * 1024 * 1024;
  if (!made.has(size)) made.set(size, Buffer.alloc(size, '${PATTERN}'));
  return made.get(size);
};`;

const BROKEN = `export default async () => ({ statusCode: 500, body: 'always broken' });`;

const FIXTURES = {
  'big.yaml': inlineFunction('big', BIG, 'timeout: 60s\nscale:\n  min: 1\n  max: 1'),
  'broken.yaml': inlineFunction('broken', BROKEN, 'scale:\n  min: 1\n  max: 1\nasync:\n  maxAttempts: 1'),
};

/** VmRSS of a process, in bytes, from /proc. */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** The highest RSS of `pid` seen while `work` runs, read every 10 ms. */
async function peakRssDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = rssOf(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(pid));
  }, 10);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, rssOf(pid)) };
  } finally {
    clearInterval(timer);
  }
}

/** Takes callbacks and counts their bytes as they come, checking each against PATTERN; keeps none. */
class CountingReceiver {
  readonly got = new Map<string, { bytes: number; intact: boolean; headers: Record<string, unknown> }>();
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      let bytes = 0;
      let intact = true;
      req.on('data', (chunk: Buffer) => {
        for (let i = 0; i < chunk.length && intact; i++)
          intact = chunk[i] === PATTERN.charCodeAt((bytes + i) % PATTERN.length);
        bytes += chunk.length;
      });
      req.on('end', () => {
        this.got.set(String(req.headers['x-call-id']), { bytes, intact, headers: req.headers });
        res.end();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

interface StoredResult {
  statusCode: number;
  body: string;
  truncated: boolean;
  size: number;
}

describe('security: one caller cannot make the gateway or Redis hold unbounded data (async calls)', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let nats: NatsServer;
  let platform: LocalModeProcess;
  let dir: string;
  let hooks: CountingReceiver;
  let gatewayPid: number;

  const accepted = async (path: string, headers: Record<string, string> = {}, body = ''): Promise<string> => {
    const reply = await postAsync(platform.url, path, headers, body);
    assert.equal(reply.status, 202, reply.text);
    return String(reply.headers['x-call-id']);
  };

  before(async () => {
    [redis, nats] = await Promise.all([startRedisServer(), startNatsServer()]);
    dir = await functionsFolder(FIXTURES);
    platform = await LocalModeProcess.start(dir, {
      NIMBUS_REDIS_URL: redis.url,
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_DEAD_LETTER_MAX_PER_FUNCTION: String(MAX_DEAD_LETTERS),
      NIMBUS_DEAD_LETTER_MAX_BODY_BYTES: String(DEAD_LETTER_BODY),
    });
    gatewayPid = platform.pid as number;
    hooks = new CountingReceiver();
    await hooks.start();
    // A small answer first, so the replica is up and the async path has run once before measuring.
    const warm = await accepted('big?mb=1', { 'x-callback-url': hooks.url });
    await callReaches(platform.url, warm, 'succeeded', 30_000);
    await eventually(() => hooks.got.get(warm), 10_000, 'the warm-up callback');
  });

  after(async () => {
    await platform?.stop();
    await hooks?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('stores a 256 MiB answer without a callback truncated to 1 MiB with its size, its RSS bounded', async () => {
    const before = rssOf(gatewayPid);
    const { result: done, peak } = await peakRssDuring(gatewayPid, async () => {
      const id = await accepted('big?mb=256');
      return callReaches(platform.url, id, 'succeeded', 60_000);
    });
    const result = done.result as unknown as StoredResult;
    assert.equal(result.statusCode, 200);
    assert.equal(result.truncated, true, 'the record says the result was cut');
    assert.equal(result.size, HUGE, 'and keeps the whole size');
    assert.equal(result.body.length, MiB);
    assert.equal(result.body.slice(0, PATTERN.length * 2), PATTERN.repeat(2));
    const growth = peak - before;
    assert.ok(growth < RSS_BUDGET, `the gateway grew ${(growth / MiB).toFixed(0)} MiB passing on 256 MiB`);
  });

  it('streams a 256 MiB answer to the callback byte for byte, its RSS bounded, and records it truncated', async () => {
    const before = rssOf(gatewayPid);
    const { result: id, peak } = await peakRssDuring(gatewayPid, async () => {
      const id = await accepted('big?mb=256', { 'x-callback-url': hooks.url });
      await eventually(() => hooks.got.get(id), 60_000, 'the 256 MiB callback');
      await callReaches(platform.url, id, 'succeeded', 30_000);
      return id;
    });
    const got = hooks.got.get(id);
    assert.equal(got?.bytes, HUGE, 'the receiver counted every byte');
    assert.equal(got?.intact, true, 'each byte as the function sent it');
    assert.equal(got?.headers['x-call-status'], 'succeeded');
    assert.equal(got?.headers['x-function-status'], '200');
    const record = await send(platform.url, `/system/calls/${id}`, { headers: admin });
    const result = record.json<{ result: StoredResult }>().result;
    assert.equal(result.truncated, true);
    assert.equal(result.size, HUGE);
    const growth = peak - before;
    assert.ok(growth < RSS_BUDGET, `the gateway grew ${(growth / MiB).toFixed(0)} MiB streaming 256 MiB`);
    assert.equal(hooks.got.size, 2, 'one callback per call: the streamed one was not sent again');
  });

  it('keeps at most the bound of dead letters per function, the newest, each body capped and flagged', async () => {
    const body = 'x'.repeat(4096);
    const ids = await inParallel(
      Array.from({ length: 12 }, (_, i) => i),
      4,
      (i) => accepted(`broken?n=${i}`, { 'content-type': 'text/plain' }, body),
    );
    for (const id of ids) await callReaches(platform.url, id, 'failed', 30_000);
    const page = await send(platform.url, '/system/dead-letters?namespace=default&function=broken', {
      headers: admin,
    });
    assert.equal(page.status, 200, page.text);
    const entries = page.json<{
      entries: { id: string; request: { body: string; truncated: boolean; size: number } }[];
    }>().entries;
    assert.equal(entries.length, MAX_DEAD_LETTERS, 'no more than the bound are kept');
    for (const entry of entries) {
      assert.equal(entry.request.truncated, true);
      assert.equal(entry.request.size, body.length);
      assert.equal(entry.request.body.length, DEAD_LETTER_BODY);
    }
    // In Redis itself: the entries of the function are the bound's worth, no more.
    const redisClient = new RedisConnection({ url: redis.url });
    try {
      const stored = await redisClient.run('counting dead letters', (c) => c.keys('*:dlq:entry:*'));
      assert.equal(stored.length, MAX_DEAD_LETTERS, stored.join(', '));
    } finally {
      await redisClient.close();
    }
    const metrics = (await send(platform.url, '/metrics', { headers: admin })).text;
    const dropped = /nimbus_dead_letters_dropped_total\{function="default\/broken"\} (\d+)/.exec(metrics);
    assert.equal(Number(dropped?.[1]), ids.length - MAX_DEAD_LETTERS, 'each drop counted');
    assert.ok(
      platform.logs.some((l) => l.msg === 'dropped the oldest dead letters of a function at its bound'),
      'and logged',
    );

    const redrive = await send(platform.url, `/system/dead-letters/${entries[0]?.id}/redrive`, {
      method: 'POST',
      headers: admin,
    });
    assert.equal(redrive.status, 409, redrive.text);
    assert.equal(redrive.json().code, 'DeadLetterTruncated');
    assert.match(String(redrive.json().error), /NIMBUS_DEAD_LETTER_MAX_BODY_BYTES/);
    const kept = await send(platform.url, `/system/dead-letters/${entries[0]?.id}`, { headers: admin });
    assert.equal(kept.status, 200, 'a refused redrive leaves the dead letter where it was');
  });
});
