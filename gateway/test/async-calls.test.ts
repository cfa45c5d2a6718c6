import 'reflect-metadata';
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AsyncPolicy, type FunctionResource, createLogger } from '@nimbus/api';
import {
  type BusMessage,
  BusUnavailableError,
  type ConsumeOptions,
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_STREAM,
  MemoryBus,
  type MessageBus,
  type MessageHandler,
  type PublishOptions,
} from '@nimbus/bus';
import {
  type CallRecord,
  type DeadLetter,
  StoreUnavailableError,
  type Stores,
  createMemoryStores,
} from '@nimbus/store';
import { type Reply, eventually, send } from '@nimbus/testkit';
import { redriveCallId } from '../src/async/call-admin.js';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { Gateway } from '../src/gateway.js';
import type { FunctionDirectory } from '../src/ports.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';

const ADMIN = 'admin-key-0123456789';
const INVOKER = 'invoke-key-0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

type Script = (seen: Seen, n: number, res: ServerResponse) => void;

/** A stand-in replica: a real HTTP server answering by a script, keeping every request it saw. */
class Replica {
  readonly seen: Seen[] = [];
  port = 0;
  private readonly server: Server;

  constructor(private script: Script) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          at: Date.now(),
        };
        this.seen.push(seen);
        this.script(seen, this.seen.length, res);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  answer(script: Script): void {
    this.script = script;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const ok: Script = (seen, _n, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-made-by', 'replica');
  res.end(JSON.stringify({ got: seen.body, path: seen.url }));
};

/** A bus whose publishes can be held at a gate or refused, around a real MemoryBus. */
class GatedBus {
  readonly inner = new MemoryBus();
  gate: Promise<void> | undefined;
  refuse: string | undefined;
  readonly published: { subject: string; msgId: string | undefined; duplicate: boolean }[] = [];
  onPublish: (() => void) | undefined;
  /** While set, deliveries wait here before the gateway's worker sees them: calls stay queued. */
  deliveries: Promise<void> | undefined;
  private openDeliveries = () => {};

  holdDeliveries(): void {
    this.deliveries = new Promise((resolve) => {
      this.openDeliveries = resolve;
    });
  }

  releaseDeliveries(): void {
    this.deliveries = undefined;
    this.openDeliveries();
  }

  asBus(): MessageBus {
    const inner = this.inner;
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop === 'consume') {
          return (stream: string, consumer: string, handler: MessageHandler, options?: ConsumeOptions) =>
            inner.consume(
              stream,
              consumer,
              async (message) => {
                await this.deliveries;
                await handler(message);
              },
              options,
            );
        }
        if (prop !== 'publish') return Reflect.get(target, prop, receiver);
        return async (subject: string, data: Uint8Array, options?: PublishOptions) => {
          this.onPublish?.();
          await this.gate;
          if (this.refuse !== undefined && subject.startsWith('nimbus.calls.'))
            throw new BusUnavailableError(this.refuse, 'disconnected');
          const ack = await inner.publish(subject, data, options);
          this.published.push({ subject, msgId: options?.msgId, duplicate: ack.duplicate });
          return ack;
        };
      },
    });
  }
}

const fnResource = (name: string, policy: Partial<AsyncPolicy> = {}): FunctionResource => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name, namespace: 'default' },
  spec: {
    runtime: 'node20',
    handler: 'index.default',
    timeout: '5s',
    concurrency: 10,
    scale: { min: 0, max: 1, target: 1, scaleToZeroAfter: '60s' },
    http: { auth: 'none' },
    source: { inline: 'export default () => 1' },
    async: {
      maxAttempts: 3,
      retryOn: [429, 500, 502, 503, 504],
      backoff: { initial: '20ms', max: '200ms' },
      ...policy,
    },
  },
});

describe('async calls through the gateway (real sockets, in-memory queue and records)', function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let stores: Stores;
  let bus: GatedBus;
  let gateway: Gateway;
  let base: string;
  let ready: boolean;
  let readinessAsked = 0;
  let storeDown = false;
  let storeRefusals = 0;
  let functions: Map<string, FunctionResource>;
  let woken: string[];
  const replicas: Replica[] = [];
  const extraServers: Server[] = [];

  const replica = async (script: Script = ok) => {
    const r = await new Replica(script).start();
    replicas.push(r);
    return r;
  };
  const deploy = (
    name: string,
    ports: number[],
    options: { policy?: Partial<AsyncPolicy>; auth?: 'none' | 'key'; timeoutMs?: number } = {},
  ) => {
    functions.set(name, fnResource(name, options.policy));
    routes.upsert({
      name,
      namespace: 'default',
      timeoutMs: options.timeoutMs ?? 5000,
      concurrency: 10,
      auth: options.auth ?? 'none',
    });
    routes.setEndpoints(
      'default',
      name,
      ports.map((port, i) => ({ id: `${name}-${i}`, host: '127.0.0.1', port })),
      'scaled to zero',
    );
  };
  const post = (path: string, headers: Record<string, string> = {}, body = '') =>
    send(base, path, { method: 'POST', headers, body });
  const record = async (id: string) => (await stores.calls.get(id)) as CallRecord;
  const settled = (id: string, status: CallRecord['status'] = 'succeeded', ms = 10_000) =>
    eventually(
      async () => {
        const r = await stores.calls.get(id);
        return r?.status === status ? r : undefined;
      },
      ms,
      `call ${id} to be ${status}`,
    );
  /** The queue holds nothing more for anyone: every call delivered was settled. */
  const drained = () =>
    eventually(
      async () => {
        const info = await bus.inner.consumerInfo('NIMBUS_CALLS', 'nimbus-calls');
        return info !== undefined && info.pending === 0 && info.ackPending === 0 ? true : undefined;
      },
      10_000,
      'the calls queue to drain',
    );
  /** Each accepted call's cancel token, by id. */
  const tokens = new Map<string, string>();
  const accepted = (reply: Reply): string => {
    assert.equal(reply.status, 202, reply.text);
    const id = reply.headers['x-call-id'];
    assert.equal(typeof id, 'string');
    const token = reply.headers['x-cancel-token'];
    assert.match(String(token), /^[A-Za-z0-9_-]{43}$/, 'a 256-bit cancel token');
    assert.deepEqual(reply.json(), { id, status: 'queued', cancelToken: token });
    tokens.set(id as string, token as string);
    return id as string;
  };
  const cancel = (id: string, headers: Record<string, string> = { 'x-cancel-token': tokens.get(id) ?? '' }) =>
    send(base, `/async-function/${id}`, { method: 'DELETE', headers });

  beforeEach(async function () {
    routes = new RouteTable();
    const memory = createMemoryStores();
    storeDown = false;
    storeRefusals = 0;
    // The call records through a switch: while it is down, every call fails as Redis would.
    const calls = new Proxy(memory.calls, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (storeDown) {
            storeRefusals++;
            return Promise.reject(new StoreUnavailableError('reading call records: connect ECONNREFUSED'));
          }
          return value.apply(target, args);
        };
      },
    });
    stores = { ...memory, calls };
    bus = new GatedBus();
    // A test named "[loading] …" starts with a gateway that does not know its functions yet.
    ready = !this.currentTest?.title.startsWith('[loading]');
    functions = new Map();
    woken = [];
    const directory: FunctionDirectory = {
      list: () => [...functions.values()],
      get: (_ns, name) => functions.get(name),
    };
    const config = loadGatewayConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      NIMBUS_API_KEYS: `admin:${ADMIN},invoke:${INVOKER}`,
      NIMBUS_ASYNC_MAX_BODY_BYTES: '1024',
      NIMBUS_ASYNC_CONCURRENCY: '4',
      NIMBUS_WAKE_TIMEOUT_MS: '2000',
      NIMBUS_CALLBACK_TIMEOUT_MS: '2000',
      // The test's receivers listen on loopback.
      NIMBUS_EGRESS_ALLOW: 'loopback',
    });
    const container = createGatewayContainer(config, {
      routes,
      directory,
      stores,
      bus: bus.asBus(),
      readiness: {
        notReadyReason: () => {
          readinessAsked++;
          return ready ? undefined : 'loading';
        },
      },
      logger: createLogger({}, 'error'),
      waker: { wake: (r) => woken.push(r.key) },
      // Failed callbacks are sent again after 20 ms, then 40 ms, not 500 ms and 1 s.
      callbackRetryBaseMs: 20,
    });
    gateway = container.resolve<Gateway>(TOKENS.Gateway);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    // The queue is set up in the background; 503 until then.
    await eventually(
      async () => ((await bus.inner.consumerInfo('NIMBUS_CALLS', 'nimbus-calls')) ? true : undefined),
      5_000,
      'the calls stream and durable',
    );
  });

  afterEach(async () => {
    await gateway.close();
    await bus.inner.close();
    for (const r of replicas.splice(0)) await r.stop();
    for (const s of extraServers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('answers 202 only once the stream has the message, and runs the call with the request as sent', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    let release = () => {};
    bus.gate = new Promise((resolve) => {
      release = resolve;
    });
    let answered = false;
    let answeredBeforeStored: boolean | undefined;
    bus.onPublish = () => {
      // At the moment of publishing, the caller must not have its answer yet.
      answeredBeforeStored = answered;
      setImmediate(release);
    };
    const reply = await post(
      '/async-function/echo/orders/7?x=1',
      { 'content-type': 'text/plain', 'x-trace': 'abc' },
      'hello async',
    ).then((rep) => {
      answered = true;
      return rep;
    });
    assert.equal(answeredBeforeStored, false, 'the publish started before the answer');
    const id = accepted(reply);
    assert.equal(bus.published[0]?.msgId, id, 'the call id is the dedup id');
    assert.equal(bus.published[0]?.subject, 'nimbus.calls.default.echo');
    assert.equal(reply.headers.location, `/system/calls/${id}`);

    const done = await settled(id);
    assert.equal(done.attempts, 1);
    assert.equal(done.result?.statusCode, 200);
    assert.deepEqual(JSON.parse(done.result?.body ?? ''), { got: 'hello async', path: '/orders/7?x=1' });
    assert.equal(done.result?.headers['x-made-by'], 'replica');
    assert.ok((done.timings.waitMs ?? -1) >= 0 && (done.timings.durationMs ?? -1) >= 0, JSON.stringify(done));
    assert.ok(done.finishedAt !== undefined && done.startedAt !== undefined);
    const seen = r.seen[0] as Seen;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.headers['x-call-id'], id);
    assert.equal(seen.headers['x-trace'], 'abc');
    assert.equal(seen.headers['content-type'], 'text/plain');

    const viaApi = await send(base, `/system/calls/${id}`, { headers: admin });
    assert.equal(viaApi.status, 200);
    assert.equal(viaApi.json().status, 'succeeded');
  });

  it('[loading] queues calls at once, and runs them only once the gateway knows its functions', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    const id = accepted(await post('/async-function/echo'));
    const asked = readinessAsked;
    await eventually(
      async () => (readinessAsked >= asked + 2 ? true : undefined),
      5_000,
      'the worker to look twice',
    );
    assert.equal((await record(id)).status, 'queued', 'not run while the gateway is loading');
    assert.equal(r.seen.length, 0);
    ready = true;
    await settled(id);
  });

  it('refuses bad requests with 4xx JSON before anything is queued', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    deploy('private', [r.port], { auth: 'key' });
    const cases: [string, Promise<Reply>, number, string, RegExp][] = [
      [
        'an unknown function',
        post('/async-function/nope'),
        404,
        'FunctionNotFound',
        /nope not found in namespace default/,
      ],
      ['a bad name', post('/async-function/Bad_Name'), 400, 'InvalidFunctionName', /not a function name/],
      [
        'a bad X-Call-Id',
        post('/async-function/echo', { 'x-call-id': 'a b' }),
        400,
        'InvalidCallId',
        /X-Call-Id/,
      ],
      [
        'a callback that is not http(s)',
        post('/async-function/echo', { 'x-callback-url': 'ftp://example.com/x' }),
        400,
        'InvalidCallbackUrl',
        /X-Callback-Url/,
      ],
      [
        'a body over the async limit',
        post('/async-function/echo', {}, 'x'.repeat(1025)),
        413,
        'BodyTooLarge',
        /1024 bytes/,
      ],
      [
        'no key for a function that wants one',
        post('/async-function/private'),
        401,
        'Unauthenticated',
        /API key/,
      ],
      ['a GET', send(base, '/async-function/echo'), 405, 'MethodNotAllowed', /POST/],
    ];
    for (const [what, pending, status, code, message] of cases) {
      const reply = await pending;
      assert.equal(reply.status, status, `${what}: ${reply.text}`);
      assert.equal(reply.json().code, code, what);
      assert.match(String(reply.json().error), message, what);
    }
    assert.equal(bus.published.length, 0, 'nothing was published');
    const withKey = await post('/async-function/private', { authorization: `Bearer ${INVOKER}` });
    const id = accepted(withKey);
    await settled(id);
    assert.equal(r.seen.at(-1)?.headers.authorization, undefined, 'the key is not passed on');
  });

  it('answers 503 QueueUnavailable when the stream cannot take the call, and the record says failed, not queued', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    bus.refuse = 'NATS is unreachable';
    const reply = await post('/async-function/echo', { 'x-call-id': 'down-1' });
    assert.equal(reply.status, 503);
    assert.equal(reply.json().code, 'QueueUnavailable');
    assert.equal(reply.json().callId, 'down-1');
    assert.equal(reply.headers['retry-after'], '1');
    const failed = await record('down-1');
    assert.equal(failed.status, 'failed');
    assert.match(failed.lastError ?? '', /not queued: NATS is unreachable/);
    assert.equal(failed.attempts, 0);

    // The caller sends it again once NATS is back: queued under a message id of its own, and it runs.
    bus.refuse = undefined;
    const again = await post('/async-function/echo', { 'x-call-id': 'down-1' });
    assert.equal(again.status, 202, again.text);
    assert.equal((await settled('down-1')).attempts, 1);
    assert.equal(r.seen.length, 1);
    assert.notEqual(bus.published.at(-1)?.msgId, 'down-1');
  });

  it('deduplicates a repeated X-Call-Id: one message, one run, the same id', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    bus.holdDeliveries(); // so the second request meets a queued call
    const first = await post('/async-function/echo', { 'x-call-id': 'order-42' }, 'once');
    const second = await post('/async-function/echo', { 'x-call-id': 'order-42' }, 'once');
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.headers['x-call-id'], 'order-42');
    assert.deepEqual(second.json(), { id: 'order-42', status: 'queued', duplicate: true });
    assert.deepEqual(
      bus.published.map((p) => [p.msgId, p.duplicate]),
      [
        ['order-42', false],
        ['order-42', true],
      ],
      'the second publish was dropped by the stream',
    );
    bus.releaseDeliveries();
    await settled('order-42');
    await drained();
    const third = await post('/async-function/echo', { 'x-call-id': 'order-42' }, 'once');
    assert.deepEqual(third.json(), { id: 'order-42', status: 'succeeded', duplicate: true });
    assert.equal(r.seen.length, 1, 'the function ran once');
    // The same id for another function is a conflict, not a silent success.
    deploy('other', [r.port]);
    const clash = await post('/async-function/other', { 'x-call-id': 'order-42' });
    assert.equal(clash.status, 409);
    assert.equal(clash.json().code, 'CallIdInUse');
  });

  it('retries by the policy with backoff: fails twice, then succeeds on attempt 3', async () => {
    const r = await replica((seen, n, res) => {
      if (n < 3) {
        res.statusCode = 503;
        res.end(`busy ${n}`);
      } else ok(seen, n, res);
    });
    deploy('flaky', [r.port], { policy: { maxAttempts: 3, backoff: { initial: '100ms', max: '1s' } } });
    const id = accepted(await post('/async-function/flaky', {}, 'x'));
    const done = await settled(id);
    assert.equal(done.attempts, 3);
    assert.equal(r.seen.length, 3);
    const [a, b, c] = r.seen.map((s) => s.at) as [number, number, number];
    // Equal jitter: at least half of each step (100 ms, then 200 ms).
    assert.ok(b - a >= 50, `first retry after ${b - a} ms`);
    assert.ok(c - b >= 100, `second retry after ${c - b} ms`);
    assert.match(done.lastError ?? '', /attempt 2: the function answered 503: busy 2/);
  });

  it("honours the function's Retry-After over the backoff", async () => {
    const r = await replica((seen, n, res) => {
      if (n === 1) {
        res.statusCode = 429;
        res.setHeader('retry-after', '1');
        res.end();
      } else ok(seen, n, res);
    });
    deploy('limited', [r.port], { policy: { backoff: { initial: '10ms', max: '5s' } } });
    const id = accepted(await post('/async-function/limited'));
    await settled(id);
    const [a, b] = r.seen.map((s) => s.at) as [number, number];
    assert.ok(b - a >= 1000, `retried after ${b - a} ms, before the 1 s Retry-After`);
  });

  it('dead-letters an exhausted call with its last error, and a redrive runs it again under the same id', async () => {
    let healthy = false;
    const r = await replica((seen, n, res) => {
      if (healthy) ok(seen, n, res);
      else {
        res.statusCode = 500;
        res.end(`boom ${n}`);
      }
    });
    deploy('sick', [r.port], { policy: { maxAttempts: 2 } });
    const dlq: BusMessage[] = [];
    await bus.inner.ensureConsumer({ stream: DEAD_LETTER_STREAM, name: 'inspector' });
    bus.inner.consume(DEAD_LETTER_STREAM, 'inspector', async (m) => {
      dlq.push(m);
      await m.ack();
    });
    const id = accepted(
      await post('/async-function/sick/path?q=1', { 'x-callback-url': 'http://127.0.0.1:9/x' }, 'payload'),
    );
    const failed = await settled(id, 'failed');
    assert.equal(failed.attempts, 2);
    assert.match(failed.lastError ?? '', /attempt 2: the function answered 500: boom 2/);
    assert.equal(failed.result?.statusCode, 500);

    const letter = (await send(base, `/system/dead-letters/${id}`, { headers: admin })).json<DeadLetter>();
    assert.equal(letter.reason, 'attempts-exhausted');
    assert.equal(letter.attempts, 2);
    assert.match(letter.lastError, /boom 2/);
    assert.equal(letter.request.body, 'payload');
    const listed = (
      await send(base, '/system/dead-letters?namespace=default&function=sick', { headers: admin })
    ).json<{
      entries: DeadLetter[];
    }>();
    assert.deepEqual(
      listed.entries.map((e) => e.id),
      [id],
    );
    const message = await eventually(async () => dlq[0], 5_000, 'the NIMBUS_DLQ message');
    assert.equal(message.subject, 'nimbus.dlq.default.sick');
    assert.match(message.headers[DEAD_LETTER_HEADERS.error] ?? '', /boom 2/);
    assert.equal(Buffer.from(message.data).toString(), 'payload');

    healthy = true;
    const redriven = await send(base, `/system/dead-letters/${id}/redrive`, {
      method: 'POST',
      headers: admin,
    });
    assert.equal(redriven.status, 202, redriven.text);
    assert.equal(redriven.headers['x-call-id'], id);
    const done = await settled(id);
    assert.equal(done.attempts, 1, 'a new series of attempts');
    assert.equal(r.seen.length, 3);
    assert.equal(r.seen[2]?.url, '/path?q=1');
    assert.equal(r.seen[2]?.body, 'payload');
    assert.equal((await send(base, `/system/dead-letters/${id}`, { headers: admin })).status, 404);
    const twice = await send(base, `/system/dead-letters/${id}/redrive`, { method: 'POST', headers: admin });
    assert.equal(twice.status, 404);
    assert.equal(twice.json().code, 'DeadLetterNotFound');
  });

  it('fails a call the function refuses (400) at once, without retrying', async () => {
    const r = await replica((_seen, _n, res) => {
      res.statusCode = 400;
      res.end('bad input');
    });
    deploy('strict', [r.port]);
    const id = accepted(await post('/async-function/strict'));
    const failed = await settled(id, 'failed');
    assert.equal(failed.attempts, 1);
    assert.equal(r.seen.length, 1);
    const letter = (await stores.deadLetters.get(id)) as DeadLetter;
    assert.equal(letter.reason, 'not-retryable');
    const deleted = await send(base, `/system/dead-letters/${id}`, { method: 'DELETE', headers: admin });
    assert.equal(deleted.status, 204);
    assert.equal(
      (await send(base, `/system/dead-letters/${id}`, { method: 'DELETE', headers: admin })).status,
      404,
    );
  });

  it("a trigger event's dead letter is addressed by its own id; one with a control character is 400", async () => {
    const event = encodeURIComponent('source:default/jobs/queue:job-1');
    const missing = await send(base, `/system/dead-letters/${event}`, { headers: admin });
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json().code, 'DeadLetterNotFound');
    const bad = await send(base, '/system/dead-letters/a%0Ab/redrive', { method: 'POST', headers: admin });
    assert.equal(bad.status, 400, bad.text);
    assert.match(
      bad.json<{ error: string }>().error,
      /dead-letter id .* without whitespace or control characters/,
    );
    assert.equal(redriveCallId('0b4c-call_1.x'), '0b4c-call_1.x');
    const derived = redriveCallId('event:NIMBUS_SOURCES:12:orders');
    assert.match(derived, /^redrive-[A-Za-z0-9_-]{32}$/);
    assert.equal(redriveCallId('event:NIMBUS_SOURCES:12:orders'), derived);
    assert.notEqual(redriveCallId('event:NIMBUS_SOURCES:13:orders'), derived);
  });

  it('pages dead letters newest first, by function, with a cursor', async () => {
    const r = await replica((_seen, _n, res) => {
      res.statusCode = 422;
      res.end('no');
    });
    deploy('picky', [r.port]);
    deploy('other', [r.port]);
    for (const [n, fn] of ['picky', 'picky', 'other', 'picky'].entries()) {
      await settled(accepted(await post(`/async-function/${fn}`, { 'x-call-id': `dl-${n}` })), 'failed');
    }
    const page = async (query: string) =>
      (await send(base, `/system/dead-letters?${query}`, { headers: admin })).json<{
        entries: DeadLetter[];
        cursor?: string;
      }>();
    const first = await page('namespace=default&function=picky&limit=2');
    assert.deepEqual(
      first.entries.map((e) => e.id),
      ['dl-3', 'dl-1'],
    );
    assert.ok(first.cursor);
    const second = await page(`namespace=default&function=picky&limit=2&cursor=${first.cursor}`);
    assert.deepEqual(
      second.entries.map((e) => e.id),
      ['dl-0'],
    );
    assert.equal(second.cursor, undefined);
    const all = await page('namespace=default');
    assert.equal(all.entries.length, 4);
    const bad = await send(base, '/system/dead-letters?cursor=nonsense', { headers: admin });
    assert.equal(bad.status, 400);
  });

  it('cancels a queued call, which then never runs; a finished or unknown call cannot be cancelled', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    bus.holdDeliveries();
    const id = accepted(
      await post('/async-function/echo', { 'x-callback-url': 'http://127.0.0.1:9/h?sig=s' }),
    );
    const cancelled = await cancel(id);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.json().status, 'cancelled');
    assert.equal(cancelled.json().callbackUrl, undefined, 'no callback URL in a public answer');
    assert.equal(cancelled.json().cancelTokenHash, undefined);
    const again = await cancel(id, admin);
    assert.equal(again.status, 409);
    assert.equal(again.json().code, 'CallNotCancellable');
    assert.match(String(again.json().error), /is cancelled/);
    bus.releaseDeliveries();
    await drained();
    assert.equal(r.seen.length, 0, 'the cancelled call never ran');
    assert.equal((await record(id)).status, 'cancelled');
    const unknown = await cancel('no-such-call', admin);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, 'CallNotFound');
    const resend = await post('/async-function/echo', { 'x-call-id': id });
    assert.equal(resend.status, 409);
    assert.equal(resend.json().code, 'CallCancelled');
  });

  it("cancels only with the call's own token or an admin key: 401 without, 403 with a wrong one", async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    bus.holdDeliveries();
    const id = accepted(await post('/async-function/echo'));
    const other = accepted(await post('/async-function/echo'));
    const bare = await cancel(id, {});
    assert.equal(bare.status, 401, bare.text);
    assert.equal(bare.json().code, 'CancelTokenRequired');
    assert.match(String(bare.json().error), /X-Cancel-Token/);
    for (const headers of [{ 'x-cancel-token': 'guessed' }, { 'x-cancel-token': tokens.get(other) ?? '' }]) {
      const wrong = await cancel(id, headers);
      assert.equal(wrong.status, 403, wrong.text);
      assert.equal(wrong.json().code, 'CancelTokenInvalid');
    }
    const noSuchCall = await cancel('never-was', { 'x-cancel-token': tokens.get(id) ?? '' });
    assert.equal(noSuchCall.status, 403, 'a token tells nothing of which ids exist');
    const badKey = await cancel(id, { authorization: 'Bearer nope' });
    assert.equal(badKey.status, 401);
    const invokeKey = await cancel(id, { authorization: `Bearer ${INVOKER}` });
    assert.equal(invokeKey.status, 403, 'an invoke key is not enough');
    assert.equal((await record(id)).status, 'queued', 'nothing refused touched the call');
    assert.equal((await cancel(other, admin)).status, 200, 'the admin key cancels any call');
    assert.equal((await cancel(id)).status, 200, 'its own token cancels it');
    bus.releaseDeliveries();
    await drained();
    assert.equal(r.seen.length, 0);
  });

  it('refuses to cancel a running call (409)', async () => {
    let finish = () => {};
    const r = await replica((seen, n, res) => {
      finish = () => ok(seen, n, res);
    });
    deploy('slow', [r.port]);
    const id = accepted(await post('/async-function/slow'));
    await settled(id, 'running');
    const refused = await cancel(id);
    assert.equal(refused.status, 409);
    assert.match(String(refused.json().error), /is running/);
    finish();
    await settled(id);
  });

  it('queues a call pinned by @tag or header only to a version the traffic names, and runs it there', async () => {
    const [v1, v2] = [await replica(), await replica()];
    deploy('split', []);
    for (const [version, r] of [
      ['v1', v1],
      ['v2', v2],
    ] as const) {
      routes.upsert({
        name: `split@${version}`,
        namespace: 'default',
        timeoutMs: 5000,
        concurrency: 10,
        auth: 'none',
      });
      routes.setEndpoints('default', `split@${version}`, [{ id: version, host: '127.0.0.1', port: r.port }]);
    }
    routes.versions.set('default/split', [
      { version: 'v1', percent: 100 },
      { version: 'v2', percent: 0, tag: 'canary' },
    ]);
    for (const [path, headers] of [
      ['/async-function/split@nope', {}],
      ['/async-function/split', { 'x-nimbus-version': 'v3' }],
    ] as const) {
      const refused = await post(path, headers, 'x');
      assert.equal(refused.status, 404, refused.text);
      assert.equal(refused.json<{ code: string }>().code, 'VersionNotFound');
    }
    const byTag = accepted(await post('/async-function/split@canary/path', {}, 'by tag'));
    const byHeader = accepted(
      await post('/async-function/split', { 'x-nimbus-version': 'canary' }, 'by header'),
    );
    const unpinned = accepted(await post('/async-function/split', {}, 'by share'));
    for (const id of [byTag, byHeader, unpinned]) await settled(id);
    assert.deepEqual(
      v2.seen.map((s) => s.body).sort(),
      ['by header', 'by tag'],
      'the pinned calls ran on the tagged version',
    );
    assert.deepEqual(
      v1.seen.map((s) => s.body),
      ['by share'],
    );
    assert.equal(v2.seen.find((s) => s.body === 'by tag')?.url, '/path');
    for (const s of [...v1.seen, ...v2.seen]) assert.equal(s.headers['x-nimbus-version'], undefined);
  });

  describe('answers larger than the record keeps (1 MiB)', () => {
    const MiB = 1024 * 1024;
    /** Answers `status` with `size` bytes of 'z', written 64 KiB at a time as the socket takes them. */
    const large =
      (size: number, status = 200): Script =>
      (_seen, _n, res) => {
        res.writeHead(status, { 'content-type': 'application/octet-stream' });
        let left = size;
        const more = () => {
          while (left > 0) {
            const n = Math.min(left, 64 * 1024);
            left -= n;
            if (!res.write(Buffer.alloc(n, 'z'))) {
              res.once('drain', more);
              return;
            }
          }
          res.end();
        };
        more();
      };
    /** A callback receiver; `onRequest` decides what it does with each. */
    const hookServer = async (onRequest: (req: IncomingMessage, res: ServerResponse) => void) => {
      const server = createServer(onRequest);
      extraServers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    };

    it('records the first MiB of a 3 MiB answer, truncated with its size, and streams all of it to the callback', async () => {
      const got: { bytes: number; headers: IncomingMessage['headers'] }[] = [];
      const url = await hookServer((req, res) => {
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        req.on('end', () => {
          got.push({ bytes, headers: req.headers });
          res.end();
        });
      });
      deploy('big', [(await replica(large(3 * MiB))).port]);
      const id = accepted(await post('/async-function/big', { 'x-callback-url': url }));
      const done = await settled(id);
      assert.equal(done.result?.truncated, true);
      assert.equal(done.result?.size, 3 * MiB);
      assert.equal(done.result?.body.length, MiB);
      const hook = await eventually(async () => got[0], 5_000, 'the callback');
      assert.equal(hook.bytes, 3 * MiB);
      assert.equal(hook.headers['x-call-status'], 'succeeded');
      assert.equal(hook.headers['x-result-truncated'], undefined, 'the callback has it whole');
      assert.equal(got.length, 1);
    });

    it('finishes the call when the receiver hangs up mid-stream, and does not send it again', async () => {
      let requests = 0;
      const url = await hookServer((req) => {
        requests++;
        req.once('data', () => req.socket.destroy());
      });
      deploy('big', [(await replica(large(3 * MiB))).port]);
      const id = accepted(await post('/async-function/big', { 'x-callback-url': url }));
      const done = await settled(id);
      assert.equal(done.result?.size, 3 * MiB, 'the rest of the answer was read and counted');
      // A retry would have come within the 20 ms backoff; the next call's callback shows none did.
      const id2 = accepted(await post('/async-function/big', { 'x-callback-url': url }));
      await settled(id2);
      await eventually(async () => (requests >= 2 ? true : undefined), 5_000, 'the second callback');
      assert.equal(requests, 2, 'one request per call: a stream that began is never sent again');
    });

    it('calls back a large failure with its first MiB, saying it is cut', async () => {
      const got: { bytes: number; headers: IncomingMessage['headers'] }[] = [];
      const url = await hookServer((req, res) => {
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        req.on('end', () => {
          got.push({ bytes, headers: req.headers });
          res.end();
        });
      });
      deploy('bad', [(await replica(large(2 * MiB, 400))).port]);
      const id = accepted(await post('/async-function/bad', { 'x-callback-url': url }));
      const done = await settled(id, 'failed');
      assert.equal(done.result?.truncated, true);
      const hook = await eventually(async () => got[0], 5_000, 'the callback');
      assert.equal(hook.bytes, MiB);
      assert.equal(hook.headers['x-call-status'], 'failed');
      assert.equal(hook.headers['x-result-truncated'], 'true');
      assert.equal(hook.headers['x-result-size'], String(2 * MiB));
    });
  });

  it('POSTs the result to X-Callback-Url with the call headers; a failing callback never re-runs the function', async () => {
    const hooks: Seen[] = [];
    let hookStatus = 200;
    const hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          at: Date.now(),
        });
        res.statusCode = hookStatus;
        res.end();
      });
    });
    extraServers.push(hook);
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done?token=t`;
    const r = await replica();
    deploy('echo', [r.port]);
    const id = accepted(await post('/async-function/echo', { 'x-callback-url': hookUrl }, 'for the hook'));
    const got = await eventually(async () => hooks[0], 10_000, 'the callback');
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/done?token=t');
    assert.equal(got.headers['x-call-id'], id);
    assert.equal(got.headers['x-function-status'], '200');
    assert.equal(got.headers['x-call-status'], 'succeeded');
    assert.ok(Number(got.headers['x-duration-seconds']) >= 0);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(got.body), { got: 'for the hook', path: '/' });
    assert.equal((await record(id)).callbackUrl, hookUrl);

    hookStatus = 503;
    const second = accepted(await post('/async-function/echo', { 'x-callback-url': hookUrl }));
    await eventually(async () => (hooks.length === 4 ? true : undefined), 10_000, 'three callback attempts');
    assert.deepEqual(
      hooks.slice(1).map((h) => h.headers['x-call-id']),
      [second, second, second],
    );
    assert.equal((await record(second)).status, 'succeeded');
    assert.equal(r.seen.length, 2, 'the function ran once per call');
  });

  it('wakes a function at zero for an async call, holds it, and records the wait as init time', async () => {
    const r = await replica();
    deploy('sleepy', []);
    const id = accepted(await post('/async-function/sleepy'));
    await eventually(async () => (woken.includes('default/sleepy') ? true : undefined), 5_000, 'a wake');
    assert.equal((await record(id)).status, 'running', 'held for a replica');
    routes.setEndpoints('default', 'sleepy', [{ id: 'sleepy-0', host: '127.0.0.1', port: r.port }]);
    const done = await settled(id);
    assert.ok((done.timings.initMs ?? 0) > 0, JSON.stringify(done.timings));
    assert.equal(r.seen.length, 1);
  });

  it('retries a replica that refuses connections on another attempt, then fails the call to a removed function', async () => {
    const r = await replica();
    await r.stop(); // a port nothing listens on
    deploy('gone', [r.port], { policy: { maxAttempts: 2 } });
    const id = accepted(await post('/async-function/gone'));
    const failed = await settled(id, 'failed');
    assert.equal(failed.attempts, 2, 'a connection failure is retried');
    assert.match(failed.lastError ?? '', /attempt 2: function gone has no ready replica/);

    bus.holdDeliveries();
    const queued = accepted(await post('/async-function/gone'));
    routes.remove('default', 'gone');
    bus.releaseDeliveries();
    const orphan = await settled(queued, 'failed');
    assert.match(orphan.lastError ?? '', /function gone not found in namespace default/);
    assert.equal((await stores.deadLetters.get(queued))?.reason, 'function-not-found');
  });

  it('rides out a Redis outage: 503 StoreUnavailable for new calls, and a delivery waits without spending an attempt', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    bus.holdDeliveries();
    const id = accepted(await post('/async-function/echo'));
    storeDown = true;
    const refused = await post('/async-function/echo');
    assert.equal(refused.status, 503);
    assert.equal(refused.json().code, 'StoreUnavailable');
    assert.equal(refused.headers['retry-after'], '1');
    bus.releaseDeliveries();
    await eventually(
      async () => (storeRefusals >= 3 ? true : undefined),
      10_000,
      'the worker to meet the outage',
    );
    storeDown = false;
    const done = await settled(id);
    assert.equal(done.attempts, 1, 'the outage cost no attempt');
    assert.equal(r.seen.length, 1);
  });

  it('dead-letters a message no gateway published (NIMBUS_DLQ) and goes on with the next', async () => {
    const r = await replica();
    deploy('echo', [r.port]);
    const dlq: BusMessage[] = [];
    await bus.inner.ensureConsumer({ stream: DEAD_LETTER_STREAM, name: 'inspector' });
    bus.inner.consume(DEAD_LETTER_STREAM, 'inspector', async (m) => {
      dlq.push(m);
      await m.ack();
    });
    await bus.inner.publish('nimbus.calls.default.echo', Buffer.from('garbage'), { msgId: 'not-a-call' });
    const letter = await eventually(async () => dlq[0], 5_000, 'the dead letter');
    assert.match(
      letter.headers[DEAD_LETTER_HEADERS.error] ?? '',
      /unreadable call message: no Nimbus-Call-Id header/,
    );
    assert.equal(letter.headers[DEAD_LETTER_HEADERS.id], 'not-a-call');
    await settled(accepted(await post('/async-function/echo')));
    await drained();
  });

  it('serves /system/calls and /system/dead-letters with the admin key only, and 404 JSON for unknown ids', async () => {
    const noKey = await send(base, '/system/calls/x');
    assert.equal(noKey.status, 401);
    const invoker = await send(base, '/system/dead-letters', {
      headers: { authorization: `Bearer ${INVOKER}` },
    });
    assert.equal(invoker.status, 403);
    const unknown = await send(base, '/system/calls/no-such-call', { headers: admin });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, 'CallNotFound');
    const badLimit = await send(base, '/system/dead-letters?limit=lots', { headers: admin });
    assert.equal(badLimit.status, 400);
    assert.match(String(badLimit.json().error), /limit/);
    const fnWithoutNs = await send(base, '/system/dead-letters?function=x', { headers: admin });
    assert.equal(fnWithoutNs.status, 400);
    assert.match(String(fnWithoutNs.json().error), /namespace/);
    const empty = await send(base, '/system/dead-letters', { headers: admin });
    assert.deepEqual(empty.json(), { entries: [] });
    const redrive = await send(base, '/system/dead-letters/nope/redrive', { method: 'POST', headers: admin });
    assert.equal(redrive.status, 404);
    const wrong = await send(base, '/system/calls/x', { method: 'PUT', headers: admin });
    assert.equal(wrong.status, 405);
  });
});
