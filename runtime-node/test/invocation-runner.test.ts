import 'reflect-metadata';
import assert from 'node:assert/strict';
import { JsonLogger } from '@nimbus/api/log';
import { ManualClock, settle as flush } from '@nimbus/testkit';
import type { FunctionContext, FunctionEvent, Handler } from '../src/contract.js';
import {
  BadRequestError,
  FunctionTimeoutError,
  HandlerUnavailableError,
  QueueFullError,
} from '../src/http/http-errors.js';
import { Cancellation } from '../src/invoke/cancellation.js';
import { ConcurrencyLimiter } from '../src/invoke/concurrency-limiter.js';
import type { InvocationInfo } from '../src/invoke/context.js';
import {
  ClientDisconnectedError,
  type InvocationOutcome,
  InvocationRunner,
} from '../src/invoke/invocation-runner.js';
import type { MaybePromise } from '../src/invoke/maybe-async.js';

const EVENT: FunctionEvent = {
  method: 'GET',
  path: '/',
  query: {},
  params: {},
  headers: {},
  body: undefined,
  rawBody: Buffer.alloc(0),
};

interface Harness {
  readonly clock: ManualClock;
  readonly limiter: ConcurrencyLimiter;
  readonly runner: InvocationRunner;
  readonly contexts: InvocationInfo[];
  readonly logs: Record<string, unknown>[];
  run(options?: {
    id?: string;
    client?: Cancellation;
    readEvent?: () => MaybePromise<FunctionEvent>;
  }): Promise<InvocationOutcome>;
}

/** The two ways into the handler: with nothing to wait for, and waiting for the event and the handler. */
interface StartPath {
  readonly name: string;
  readonly handlerLoaded: boolean;
  readEvent(): MaybePromise<FunctionEvent>;
}

const START_PATHS: readonly StartPath[] = [
  { name: 'handler loaded, no body to read', handlerLoaded: true, readEvent: () => EVENT },
  {
    name: 'handler loading, body being read',
    handlerLoaded: false,
    readEvent: () => Promise.resolve(EVENT),
  },
];

function makeHarness(
  path: StartPath,
  handler: Handler | Error,
  limits = { concurrency: 1, queueSize: 1 },
  timeoutMs = 1000,
): Harness {
  const clock = new ManualClock(1_700_000_000_000);
  const limiter = new ConcurrencyLimiter(limits);
  const contexts: InvocationInfo[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = new JsonLogger((line) => logs.push(JSON.parse(line)), clock, 'debug');
  const handlers = {
    loadedHandler: path.handlerLoaded && !(handler instanceof Error) ? handler : undefined,
    handler: () =>
      handler instanceof Error
        ? Promise.reject(new HandlerUnavailableError(handler.message))
        : Promise.resolve(handler),
  };
  const contextFactory = {
    create: (info: InvocationInfo) => {
      contexts.push(info);
      return { signal: info.cancellation.signal, deadline: info.deadline } as unknown as FunctionContext;
    },
  };
  const runner = new InvocationRunner({ timeoutMs }, clock, limiter, handlers, contextFactory, logger);
  return {
    clock,
    limiter,
    runner,
    contexts,
    logs,
    run: (options = {}) =>
      runner.run({
        invocationId: options.id ?? 'call-1',
        traceparent: undefined,
        cancellation: options.client ?? new Cancellation(),
        readEvent: options.readEvent ?? path.readEvent,
      }),
  };
}

/** A handler whose calls stay pending until the test settles them. */
function controllable() {
  const calls: { resolve(value: unknown): void; reject(error: unknown): void; signal: AbortSignal }[] = [];
  const handler: Handler = (_event, ctx) =>
    new Promise((resolve, reject) => calls.push({ resolve, reject, signal: ctx.signal }));
  return { handler, calls };
}

function failedWith(outcome: InvocationOutcome): unknown {
  assert.equal(outcome.kind, 'failed');
  return outcome.kind === 'failed' ? outcome.error : undefined;
}

type HarnessOptions = Parameters<typeof makeHarness> extends [StartPath, ...infer Rest] ? Rest : never;

for (const path of START_PATHS) {
  describe(`InvocationRunner (${path.name})`, () => {
    const harness = (...options: HarnessOptions) => makeHarness(path, ...options);

    it('maps the handler result and releases the slot', async () => {
      const h = harness(async () => 'ok');
      const outcome = await h.run();
      assert.equal(outcome.kind, 'response');
      assert.equal(outcome.kind === 'response' && outcome.response.body?.toString(), 'ok');
      assert.equal(h.limiter.inflight, 0);
      assert.equal(h.clock.pending, 0, 'the deadline timer is cleared');
    });

    it('gives the context a deadline of arrival plus the timeout', async () => {
      const h = harness(async () => 'ok', undefined, 2500);
      const arrival = h.clock.now();
      await h.run();
      assert.equal(h.contexts[0]?.deadline, arrival + 2500);
    });

    it('turns a thrown error into a failed outcome and logs it with the stack', async () => {
      const h = harness(() => {
        throw new Error('kaput');
      });
      const error = failedWith(await h.run());
      assert.ok(error instanceof Error && error.message === 'kaput');
      const line = h.logs.find((l) => l.msg === 'handler failed');
      assert.match(String((line?.error as { stack?: string }).stack), /kaput/);
      assert.equal(line?.invocationId, 'call-1');
    });

    it('answers a timeout at the deadline, aborts ctx.signal and frees the slot while the handler still runs', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      const pending = h.run();
      await flush();
      assert.equal(calls.length, 1);
      assert.equal(h.limiter.inflight, 1);

      h.clock.advance(999);
      await flush();
      assert.equal(calls[0]?.signal.aborted, false);

      h.clock.advance(1);
      const error = failedWith(await pending);
      assert.ok(error instanceof FunctionTimeoutError);
      assert.equal(error.statusCode, 504);
      assert.equal(error.message, 'function timed out after 1000ms');
      assert.equal(calls[0]?.signal.aborted, true);
      assert.equal(h.limiter.inflight, 0, 'slot released at the timeout, not when the handler returns');

      // The late result is discarded without disturbing anything.
      calls[0]?.resolve('too late');
      await flush();
      assert.equal(h.limiter.inflight, 0);
    });

    it('counts time spent queued toward the timeout', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      const first = h.run({ id: 'first' });
      await flush();
      h.clock.advance(400);
      const second = h.run({ id: 'second' });
      await flush();
      assert.equal(h.limiter.queued, 1);

      h.clock.advance(600); // first times out at 1000 and frees the slot for second
      assert.ok(failedWith(await first) instanceof FunctionTimeoutError);
      await flush();
      assert.equal(calls.length, 2, 'second got the slot');
      assert.equal(h.contexts[1]?.deadline, h.clock.now() + 400, 'second keeps its arrival-based deadline');

      h.clock.advance(400);
      assert.ok(failedWith(await second) instanceof FunctionTimeoutError);
    });

    it('times out a call while it is still queued, without ever calling its handler', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      const holder = h.run({ id: 'holder' });
      const queued = h.run({ id: 'queued' });
      await flush();
      assert.equal(h.limiter.queued, 1);
      h.clock.advance(1000); // both deadlines pass in the same instant
      assert.ok(failedWith(await holder) instanceof FunctionTimeoutError);
      assert.ok(failedWith(await queued) instanceof FunctionTimeoutError);
      await flush();
      assert.equal(calls.length, 1, 'only the holder ever ran');
      assert.equal(h.limiter.queued, 0);
      assert.equal(h.limiter.inflight, 0);
    });

    it('refuses with 429 when the slots and the queue are full', async () => {
      const { handler } = controllable();
      const h = harness(handler);
      h.run();
      h.run();
      await flush();
      const error = failedWith(await h.run());
      assert.ok(error instanceof QueueFullError);
      assert.equal(error.statusCode, 429);
      assert.deepEqual(error.headers, { 'retry-after': '1' });
    });

    it('takes a queued call whose client disconnects out of the queue', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      h.run({ id: 'holder' });
      await flush();
      const client = new Cancellation();
      const queued = h.run({ id: 'leaver', client });
      await flush();
      assert.equal(h.limiter.queued, 1);
      client.abort(new ClientDisconnectedError());
      assert.deepEqual(await queued, { kind: 'disconnected' });
      assert.equal(h.limiter.queued, 0);
      calls[0]?.resolve('done');
      await flush();
      assert.equal(calls.length, 1, 'the handler never ran for the call that left');
    });

    it('aborts ctx.signal when the client of a running call disconnects', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      const client = new Cancellation();
      const running = h.run({ client });
      await flush();
      client.abort(new ClientDisconnectedError());
      assert.deepEqual(await running, { kind: 'disconnected' });
      assert.equal(calls[0]?.signal.aborted, true);
      assert.equal(h.limiter.inflight, 0);
    });

    it('passes a 400 from reading the event through without calling the handler', async () => {
      const { handler, calls } = controllable();
      const h = harness(handler);
      const error = failedWith(
        await h.run({ readEvent: () => Promise.reject(new BadRequestError('bad json')) }),
      );
      assert.ok(error instanceof BadRequestError);
      assert.equal(calls.length, 0);
      assert.equal(h.limiter.inflight, 0);
    });

    it('answers 503 with the reason when the handler failed to load', async () => {
      const h = harness(new Error('SyntaxError: oops'));
      const error = failedWith(await h.run());
      assert.ok(error instanceof HandlerUnavailableError);
      assert.equal(error.statusCode, 503);
      assert.equal(error.details.reason, 'SyntaxError: oops');
    });

    it('turns an invalid statusCode into a 500 failure', async () => {
      const h = harness(async () => ({ statusCode: 1000 }));
      const error = failedWith(await h.run());
      assert.match(String((error as Error).message), /invalid statusCode 1000/);
    });
  });
}

describe('InvocationRunner, when nothing needs waiting for', () => {
  it('calls the handler before run() first yields', () => {
    const { handler, calls } = controllable();
    const h = makeHarness(START_PATHS[0] as StartPath, handler);
    void h.run();
    assert.equal(calls.length, 1);
    assert.equal(h.limiter.inflight, 1);
    calls[0]?.resolve('ok');
  });
});
