import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createLogger } from '@nimbus/api';
import { type Reply, eventually, send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { GatewayServer } from '../src/http/server.js';
import type { Invoker } from '../src/invoke/invoker.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { upstream } from './replicas.js';

/**
 * A replica that holds every request until the test lets it go, and remembers the most it held
 * at once: someone else's server, which counts nothing for the platform.
 */
class HeldReplica {
  readonly waiting: { id: string; res: ServerResponse }[] = [];
  seen: string[] = [];
  most = 0;
  server: Server | undefined;
  port = 0;

  async start(): Promise<this> {
    const u = await upstream((req: IncomingMessage, res: ServerResponse) => {
      const id = String(req.headers['x-call-id']);
      this.seen.push(id);
      this.waiting.push({ id, res });
      this.most = Math.max(this.most, this.waiting.length);
      req.resume();
    });
    this.server = u.server;
    this.port = u.port;
    return this;
  }

  /** Answers the oldest request it holds. */
  answerOne(): string {
    const next = this.waiting.shift();
    assert.ok(next, 'the replica holds a request');
    next.res.end(next.id);
    return next.id;
  }

  async stop(): Promise<void> {
    for (const { res } of this.waiting.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

describe('per-replica concurrency held by the gateway (container functions, real sockets)', function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let gateway: GatewayServer;
  let invoker: Invoker;
  let base: string;
  let replica: HeldReplica;

  const route = (gatewayAdmits: boolean, timeoutMs = 10_000) => {
    routes.upsert({
      name: 'box',
      namespace: 'default',
      timeoutMs,
      concurrency: 2,
      gatewayAdmits,
      auth: 'none',
    });
    routes.setEndpoints('default', 'box', [{ id: 'box-0', host: '127.0.0.1', port: replica.port }]);
  };
  const call = (id: string, signal?: AbortSignal): Promise<Reply> =>
    send(base, '/function/box', {
      headers: { 'x-call-id': id },
      ...(signal === undefined ? {} : { signal }),
    });
  const queued = () => routes.get('default', 'box')?.queued.size ?? -1;

  beforeEach(async () => {
    routes = new RouteTable();
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0' });
    const container = createGatewayContainer(config, { routes, logger: createLogger({}, 'error', () => {}) });
    gateway = container.resolve<GatewayServer>(TOKENS.Server);
    invoker = container.resolve<Invoker>(TOKENS.Invoker);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
    replica = await new HeldReplica().start();
  });

  afterEach(async () => {
    await replica.stop();
    await gateway.close();
  });

  it('sends a replica at most its concurrency, queues twice as many in order, and refuses the rest with 429', async () => {
    route(true);
    const replies = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => call(id));
    await eventually(
      () => (replica.seen.length === 2 && queued() === 4) || undefined,
      5000,
      '2 sent, 4 queued',
    );
    const refused = await call('g');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.headers['content-type'] ?? '', /json/);
    assert.equal(refused.json().code, 'ReplicasBusy');
    assert.match(
      String(refused.json().error),
      /every replica at its concurrency \(2\) and 4 requests queued/,
    );
    // Each answer makes room for the oldest waiting request, and never more than two at once.
    for (let answered = 0; answered < 6; answered++) {
      await eventually(() => (replica.waiting.length > 0 ? true : undefined), 5000, 'a held request');
      replica.answerOne();
    }
    const bodies = (await Promise.all(replies)).map((r) => `${r.status} ${r.text}`);
    assert.deepEqual(bodies, ['200 a', '200 b', '200 c', '200 d', '200 e', '200 f']);
    assert.deepEqual(replica.seen, ['a', 'b', 'c', 'd', 'e', 'f'], 'first come, first served');
    assert.equal(replica.most, 2);
    assert.equal(queued(), 0);
  });

  it('leaves a runtime-node function to count for itself: every request goes straight through', async () => {
    route(false);
    const replies = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => call(id));
    await eventually(() => (replica.seen.length === 7 ? true : undefined), 5000, 'all 7 at the replica');
    assert.equal(queued(), 0);
    while (replica.waiting.length > 0) replica.answerOne();
    assert.deepEqual(
      (await Promise.all(replies)).map((r) => r.status),
      [200, 200, 200, 200, 200, 200, 200],
    );
  });

  it('takes a caller that hangs up out of the queue: the replica never sees its request', async () => {
    route(true);
    const first = [call('a'), call('b')];
    await eventually(() => (replica.seen.length === 2 ? true : undefined), 5000, '2 at the replica');
    const gone = new AbortController();
    const abandoned = call('quitter', gone.signal).catch((err: Error) => err);
    await eventually(() => (queued() === 1 ? true : undefined), 5000, 'one queued');
    gone.abort();
    await abandoned;
    await eventually(() => (queued() === 0 ? true : undefined), 5000, 'the queue empty');
    const next = call('c');
    await eventually(() => (queued() === 1 ? true : undefined), 5000, 'c queued');
    replica.answerOne();
    await eventually(() => (replica.seen.length === 3 ? true : undefined), 5000, 'c at the replica');
    assert.deepEqual(replica.seen, ['a', 'b', 'c']);
    replica.answerOne();
    replica.answerOne();
    assert.deepEqual(
      (await Promise.all([...first, next])).map((r) => r.text),
      ['a', 'b', 'c'],
    );
  });

  it("answers 503 to a request that found no room within the function's timeout", async () => {
    route(true, 300);
    const first = [call('a'), call('b')];
    await eventually(() => (replica.seen.length === 2 ? true : undefined), 5000, '2 at the replica');
    const late = await call('late');
    assert.equal(late.status, 503);
    assert.equal(late.json().code, 'ReplicasBusy');
    assert.match(String(late.json().error), /no replica with room within 300 ms/);
    assert.equal(queued(), 0);
    assert.deepEqual(replica.seen, ['a', 'b']);
    replica.answerOne();
    replica.answerOne();
    await Promise.all(first);
  });

  it('holds the gateway’s own calls (async, triggers) to the same bound', async () => {
    route(true);
    const target = routes.get('default', 'box');
    assert.ok(target);
    const request = (id: string) =>
      invoker.call(target, {
        method: 'POST',
        path: '/',
        headers: { 'x-call-id': id },
        body: Buffer.alloc(0),
      });
    const outcomes = ['a', 'b', 'c', 'd', 'e', 'f'].map(request);
    await eventually(() => (queued() === 4 ? true : undefined), 5000, '4 queued');
    const busy = await request('g');
    assert.equal(busy.kind, 'failed');
    assert.equal(busy.kind === 'failed' && busy.problem.status, 429);
    // The replica never saw it: worth another attempt, as a refused connection is.
    assert.equal(busy.kind === 'failed' && busy.unreachable, true);
    for (let i = 0; i < 6; i++) {
      await eventually(() => (replica.waiting.length > 0 ? true : undefined), 5000, 'a held request');
      replica.answerOne();
    }
    assert.deepEqual(
      (await Promise.all(outcomes)).map((o) => o.kind === 'response' && o.body.toString()),
      ['a', 'b', 'c', 'd', 'e', 'f'],
    );
    assert.equal(replica.most, 2);
  });
});
