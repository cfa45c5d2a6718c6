import 'reflect-metadata';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { JsonLogger } from '@nimbus/api/log';
import { ManualClock } from '@nimbus/testkit';
import { Cancellation } from '../src/invoke/cancellation.js';
import { ContextFactory } from '../src/invoke/context.js';
import { UnconfiguredPublisher } from '../src/invoke/event-publisher.js';
import { GatewayInvoker } from '../src/invoke/function-invoker.js';
import { DisabledFunctionState } from '../src/state/function-state.js';

function contextWith(gatewayUrl: string | undefined, lines: string[] = []) {
  const clock = new ManualClock(1_000_000);
  const factory = new ContextFactory(
    { functionName: 'fn', namespace: 'team' },
    clock,
    new JsonLogger((line) => lines.push(line), clock, 'debug', { function: 'fn' }),
    new DisabledFunctionState(),
    new UnconfiguredPublisher(),
    new GatewayInvoker({ gatewayUrl }),
  );
  const cancellation = new Cancellation();
  const ctx = factory.create({
    invocationId: 'call-7',
    deadline: 1_000_000 + 5000,
    cancellation,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });
  return { ctx, clock, cancellation };
}

describe('the handler context', () => {
  it('carries the function identity, the deadline and the remaining time from the clock', () => {
    const { ctx, clock } = contextWith(undefined);
    assert.equal(ctx.functionName, 'fn');
    assert.equal(ctx.namespace, 'team');
    assert.equal(ctx.invocationId, 'call-7');
    assert.equal(ctx.deadline, 1_005_000);
    assert.equal(ctx.getRemainingTimeInMillis(), 5000);
    clock.advance(4000);
    assert.equal(ctx.getRemainingTimeInMillis(), 1000);
    clock.advance(2000);
    assert.equal(ctx.getRemainingTimeInMillis(), 0);
  });

  it('tags ctx.log lines with the invocation id', () => {
    const lines: string[] = [];
    const { ctx } = contextWith(undefined, lines);
    ctx.log.info('from handler', { n: 1 });
    assert.deepEqual(JSON.parse(lines[0] ?? ''), {
      level: 'info',
      time: new Date(1_000_000).toISOString(),
      msg: 'from handler',
      function: 'fn',
      invocationId: 'call-7',
      n: 1,
    });
  });

  it('keeps one ctx.log per invocation, and a frozen ctx', () => {
    const { ctx } = contextWith(undefined);
    assert.equal(ctx.log, ctx.log);
    assert.ok(Object.isFrozen(ctx));
    assert.throws(() => {
      (ctx as { deadline: number }).deadline = 0;
    }, TypeError);
    const { invoke, getRemainingTimeInMillis, signal, log } = ctx;
    assert.equal(typeof invoke, 'function', 'the functions work when taken off ctx');
    assert.equal(getRemainingTimeInMillis(), 5000);
    assert.equal(signal.aborted, false);
    assert.equal(log, ctx.log);
  });

  it("aborts ctx.signal with the invocation's reason, whether read before or after the abort", () => {
    const before = contextWith(undefined);
    const early = before.ctx.signal;
    assert.equal(early.aborted, false);
    const reason = new Error('deadline');
    before.cancellation.abort(reason);
    assert.equal(early.aborted, true);
    assert.equal(early.reason, reason);
    assert.equal(before.ctx.signal, early, 'the same signal every time');

    const after = contextWith(undefined);
    after.cancellation.abort(reason);
    assert.equal(after.ctx.signal.aborted, true);
    assert.equal(after.ctx.signal.reason, reason);
  });

  for (const method of ['get', 'getWithVersion', 'set', 'delete', 'incr', 'compareAndSet'] as const) {
    it(`rejects ctx.state.${method} clearly while state is not enabled`, async () => {
      const { ctx } = contextWith(undefined);
      const call = (ctx.state[method] as (...args: unknown[]) => Promise<unknown>)('k', 'v');
      await assert.rejects(call, {
        message: 'function state is not enabled for this function (set spec.state.enabled: true)',
      });
    });
  }

  it('rejects ctx.publish clearly when the runtime has no way to publish', async () => {
    const { ctx } = contextWith(undefined);
    await assert.rejects(ctx.publish('orders', {}), /ctx.publish is not configured for this runtime/);
  });

  it('rejects ctx.invoke clearly without a gateway URL', async () => {
    const { ctx } = contextWith(undefined);
    await assert.rejects(ctx.invoke('other', {}), /NIMBUS_GATEWAY_URL is not set/);
  });

  it('rejects ctx.invoke of a name that is not a function name', async () => {
    const { ctx } = contextWith('http://127.0.0.1:1');
    await assert.rejects(ctx.invoke('../admin', {}), /needs a function name/);
  });

  describe('ctx.invoke through a gateway', () => {
    let server: http.Server;
    let seen: { url?: string; method?: string; headers: http.IncomingHttpHeaders; body: string }[];
    let gatewayUrl: string;

    before(async () => {
      seen = [];
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => {
          body += chunk;
        });
        req.on('end', () => {
          seen.push({ url: req.url, method: req.method, headers: req.headers, body });
          if (req.url?.startsWith('/function/text')) {
            res.writeHead(202, { 'content-type': 'text/plain' }).end('plain');
          } else {
            res.writeHead(200, { 'content-type': 'application/json', 'x-from': 'gw' }).end('{"sum":3}');
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      gatewayUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('POSTs JSON with the call id and traceparent and parses a JSON answer', async () => {
      const { ctx } = contextWith(gatewayUrl);
      const response = await ctx.invoke('adder', { a: 1, b: 2 });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.body, { sum: 3 });
      assert.equal(response.headers['x-from'], 'gw');
      const request = seen.at(-1);
      assert.equal(request?.method, 'POST');
      assert.equal(request?.url, '/function/adder.team', "a bare name resolves in the caller's namespace");
      assert.equal(request?.headers['x-call-id'], 'call-7');
      assert.equal(request?.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      assert.equal(request?.headers['content-type'], 'application/json');
      assert.equal(request?.body, '{"a":1,"b":2}');
    });

    it('keeps an explicit namespace and hands back text as a string', async () => {
      const { ctx } = contextWith(gatewayUrl);
      const response = await ctx.invoke('text.other');
      assert.equal(seen.at(-1)?.url, '/function/text.other');
      assert.equal(seen.at(-1)?.body, '');
      assert.deepEqual([response.statusCode, response.body], [202, 'plain']);
    });
  });
});
