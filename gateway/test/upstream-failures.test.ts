import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createLogger } from '@nimbus/api';
import { send } from '@nimbus/testkit';
import { loadGatewayConfig } from '../src/config.js';
import { createGatewayContainer } from '../src/container.js';
import type { GatewayServer } from '../src/http/server.js';
import type { CallOutcome, Invoker } from '../src/invoke/invoker.js';
import { MAX_ATTEMPTS } from '../src/invoke/replica-retry.js';
import {
  BodyTooLargeError,
  type UpstreamFailure,
  classifyUpstreamError,
  problemFor,
} from '../src/invoke/upstream-errors.js';
import { RouteTable } from '../src/routing/route-table.js';
import { TOKENS } from '../src/tokens.js';
import { type Handler, closedPort, echoRequest, upstream } from './replicas.js';

const RETRY_LOG = 'replica refused the connection; trying another';

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('classifyUpstreamError', () => {
  const cases: [Error, UpstreamFailure][] = [
    [coded('ECONNREFUSED'), 'never-connected'],
    [coded('EHOSTUNREACH'), 'never-connected'],
    [coded('ENETUNREACH'), 'never-connected'],
    [coded('EADDRNOTAVAIL'), 'never-connected'],
    [coded('UND_ERR_CONNECT_TIMEOUT'), 'never-connected'],
    [coded('UND_ERR_HEADERS_TIMEOUT'), 'timeout'],
    [coded('UND_ERR_BODY_TIMEOUT'), 'timeout'],
    [new BodyTooLargeError(10), 'body-too-large'],
    [coded('ECONNRESET'), 'failed'],
    [coded('UND_ERR_SOCKET'), 'failed'],
    [new Error('no code at all'), 'failed'],
  ];
  for (const [err, expected] of cases) {
    it(`${(err as NodeJS.ErrnoException).code ?? err.message} → ${expected}`, () =>
      assert.equal(classifyUpstreamError(err), expected));
  }

  it('maps each failure to the problem the caller hears', () => {
    const err = coded('ECONNRESET');
    assert.equal(problemFor('timeout', err, 'f', 300).code, 'FunctionTimeout');
    assert.match(problemFor('timeout', err, 'f', 300).message, /within 300 ms/);
    assert.equal(problemFor('body-too-large', new BodyTooLargeError(10), 'f', 300).status, 413);
    assert.equal(problemFor('failed', err, 'f', 300).status, 502);
    assert.equal(problemFor('failed', err, 'f', 300).cause, err, 'the problem carries its cause');
    assert.equal(problemFor('never-connected', err, 'f', 300).code, 'UpstreamFailed');
  });
});

describe('upstream failures: the streaming and the buffered path alike (real sockets)', function () {
  this.timeout(20_000);
  let routes: RouteTable;
  let gateway: GatewayServer;
  let invoker: Invoker;
  let base: string;
  let logs: Record<string, unknown>[];
  const servers: Server[] = [];

  const route = (name: string, ports: number[], timeoutMs = 5000) => {
    routes.upsert({ name, namespace: 'default', timeoutMs, concurrency: 10, auth: 'none' });
    routes.setEndpoints(
      'default',
      name,
      ports.map((port, i) => ({ id: `${name}-${i}`, host: '127.0.0.1', port })),
    );
  };
  const serve = async (handler: Handler) => {
    const u = await upstream(handler);
    servers.push(u.server);
    return u.port;
  };
  const streamed = (name: string, callId: string, body = '') =>
    send(base, `/function/${name}`, { method: 'POST', headers: { 'x-call-id': callId }, body });
  const buffered = (name: string, callId: string, body = ''): Promise<CallOutcome> => {
    const target = routes.get('default', name);
    assert.ok(target);
    return invoker.call(target, {
      method: 'POST',
      path: '/',
      headers: { 'x-call-id': callId },
      body: Buffer.from(body),
    });
  };
  const retriesOf = (callId: string) => logs.filter((l) => l.msg === RETRY_LOG && l.callId === callId);

  beforeEach(async () => {
    routes = new RouteTable();
    logs = [];
    const config = loadGatewayConfig({ HOST: '127.0.0.1', PORT: '0', NIMBUS_TIMEOUT_GRACE_MS: '100' });
    const container = createGatewayContainer(config, {
      routes,
      logger: createLogger({}, 'warn', (line) => logs.push(JSON.parse(line))),
    });
    gateway = container.resolve<GatewayServer>(TOKENS.Server);
    invoker = container.resolve<Invoker>(TOKENS.Invoker);
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });

  afterEach(async () => {
    await gateway.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('sends a request a replica never saw to another one, and logs each retry the same way', async () => {
    route('flaky', [await closedPort(), await serve(echoRequest)]);
    for (let i = 0; i < 3; i++) {
      const reply = await streamed('flaky', `streamed-${i}`, `s${i}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.json<{ body: string }>().body, `s${i}`);
      const outcome = await buffered('flaky', `buffered-${i}`, `b${i}`);
      assert.equal(outcome.kind, 'response');
      assert.equal(outcome.kind === 'response' && JSON.parse(outcome.body.toString()).body, `b${i}`);
    }
    const retried = logs.filter((l) => l.msg === RETRY_LOG);
    for (const path of ['streamed', 'buffered']) {
      assert.ok(
        retried.some((l) => String(l.callId).startsWith(path)),
        `the ${path} path logged a retry`,
      );
    }
    for (const entry of retried) {
      const { time: _time, callId, ...rest } = entry;
      assert.deepEqual(
        rest,
        {
          level: 'warn',
          msg: RETRY_LOG,
          function: 'default/flaky',
          endpoint: 'flaky-0',
          code: 'ECONNREFUSED',
        },
        `the retry of ${callId}`,
      );
      assert.equal(retriesOf(String(callId)).length, 1, `${callId} retried once`);
    }
  });

  it('gives up alike: 503 when every replica refused, 502 once MAX_ATTEMPTS were refused', async () => {
    route('gone', [await closedPort()]);
    const reply = await streamed('gone', 'streamed-gone');
    assert.equal(reply.status, 503);
    assert.match(String(reply.json().error), /no replica accepted the connection/);
    const outcome = await buffered('gone', 'buffered-gone');
    assert.ok(outcome.kind === 'failed');
    assert.equal(outcome.problem.status, 503);
    assert.match(outcome.problem.message, /no replica accepted the connection/);
    assert.equal(outcome.unreachable, true);
    assert.equal(retriesOf('streamed-gone').length, 1);
    assert.equal(retriesOf('buffered-gone').length, 1);

    const refusing = await Promise.all(Array.from({ length: MAX_ATTEMPTS + 1 }, () => closedPort()));
    route('many', refusing);
    const many = await streamed('many', 'streamed-many');
    assert.equal(many.status, 502);
    assert.equal(many.json().code, 'UpstreamFailed');
    const manyOutcome = await buffered('many', 'buffered-many');
    assert.ok(manyOutcome.kind === 'failed');
    assert.equal(manyOutcome.problem.status, 502);
    assert.equal(manyOutcome.unreachable, true);
    assert.equal(retriesOf('streamed-many').length, MAX_ATTEMPTS - 1);
    assert.equal(retriesOf('buffered-many').length, MAX_ATTEMPTS - 1);
  });

  it('never repeats a request that reached a replica and failed there (it may have run)', async () => {
    let reached = 0;
    // One replica only: a retry would find no other and answer 503, not the 502 of the reset.
    route('reset', [
      await serve((req) => {
        reached++;
        req.socket.destroy();
      }),
    ]);
    const reply = await streamed('reset', 'streamed-reset');
    assert.equal(reply.status, 502);
    assert.equal(reply.json().code, 'UpstreamFailed');
    const outcome = await buffered('reset', 'buffered-reset');
    assert.ok(outcome.kind === 'failed');
    assert.equal(outcome.problem.status, 502);
    assert.equal(outcome.unreachable, true);
    assert.equal(reached, 2, 'each request reached the replica once');
    assert.equal(logs.filter((l) => l.msg === RETRY_LOG).length, 0, 'no retry');
  });

  it('answers 504 when the replica sends no headers within the timeout, on both paths', async () => {
    route('silent', [await serve(() => {})], 200);
    const reply = await streamed('silent', 'streamed-silent');
    assert.equal(reply.status, 504);
    assert.equal(reply.json().code, 'FunctionTimeout');
    assert.match(String(reply.json().error), /within 300 ms/);
    const outcome = await buffered('silent', 'buffered-silent');
    assert.ok(outcome.kind === 'failed');
    assert.equal(outcome.problem.code, 'FunctionTimeout');
    assert.equal(outcome.unreachable, false, 'the replica had the request');
    assert.equal(logs.filter((l) => l.msg === RETRY_LOG).length, 0, 'a timeout is not retried');
  });

  it('takes a body that stalls past the timeout for a timeout too: 504 buffered, cut short streaming', async () => {
    route(
      'stalls',
      [
        await serve((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('the first half');
        }),
      ],
      200,
    );
    const outcome = await buffered('stalls', 'buffered-stalls');
    assert.ok(outcome.kind === 'failed');
    assert.equal(outcome.problem.code, 'FunctionTimeout');
    assert.equal(outcome.unreachable, false);
    // Streaming, the replica's 200 is out before its body stalls: all the gateway can do is cut it.
    const cut = await streamed('stalls', 'streamed-stalls').catch((err: Error) => err);
    assert.ok(cut instanceof Error, 'the caller sees the response cut short, not a whole one');
    assert.equal(logs.filter((l) => l.msg === RETRY_LOG).length, 0);
  });
});
