import { PassThrough, type Writable } from 'node:stream';
import type { Logger } from '@nimbus/api';
import { type BusMessage, BusUnavailableError, type Subscription, publishDeadLetter } from '@nimbus/bus';
import {
  CallExistsError,
  type CallPatch,
  type CallRecord,
  type CallStore,
  type DeadLetterStore,
  FINISHED_CALL_STATUSES,
  StoreUnavailableError,
} from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import type { Destinations } from '../destinations/destinations.js';
import { callEnding } from '../destinations/endings.js';
import type { CallOutcome, Invoker, ResponseHead } from '../invoke/invoker.js';
import type { AsyncMetrics } from '../metrics/async-metrics.js';
import type { FunctionDirectory, Readiness } from '../ports.js';
import type { FunctionRoute, RouteTable } from '../routing/route-table.js';
import { finalCallback, streamedCallback } from './call-callbacks.js';
import { type CallRequest, decodeCall, targetOfSubject } from './call-message.js';
import { DEAD_LETTER_PSEUDO, attemptOutcomeOf, describeFailure } from './call-outcome.js';
import type { CallQueue } from './call-queue.js';
import type { CallbackSender } from './callback-sender.js';
import { type DeliveryEnd, DeliverySpan } from './delivery-span.js';
import { type RetryPolicy, decideAfterAttempt, retryPolicyOf } from './retry-policy.js';

/** How soon a delivery is tried again when Redis or NATS could not be reached; no attempt is counted. */
const UNAVAILABLE_RETRY_MS = 1_000;
const READY_POLL_MS = 50;

export interface WorkerDeps {
  readonly calls: CallStore;
  readonly deadLetters: DeadLetterStore;
  readonly queue: CallQueue;
  readonly routes: RouteTable;
  readonly directory: FunctionDirectory;
  readonly invoker: Pick<Invoker, 'call'>;
  readonly callbacks: CallbackSender;
  readonly metrics: AsyncMetrics;
  readonly readiness: Readiness;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  /** The most of an answer held and recorded (the store's NIMBUS_CALL_MAX_RESULT_BYTES). */
  readonly maxResultBytes: number;
  /** Spans of the attempts, under each call's enqueue span; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
  /** Where a finished call's outcome goes (spec.destinations); absent, nowhere. */
  readonly destinations?: Pick<Destinations, 'ended'>;
}

type Final = {
  status: 'succeeded' | 'failed';
  attempts: number;
  patch: CallPatch;
  /** The callback already has the whole answer, streamed while it came. */
  streamed?: boolean;
};

/**
 * Runs async calls: pulls from the durable every gateway replica shares, a bounded number at once.
 *
 * Delivery is at least once, so each delivery is checked against the call record before anything
 * runs. The record's status moves only through guarded transitions (queued → running → succeeded,
 * failed, or back to queued for a retry), so a cancelled call never starts, a finished call never
 * runs again, and each outcome is recorded, counted and called back once, by the one worker whose
 * transition applied. A first delivery that finds the call running leaves it to the delivery that
 * started it (it was published twice); a redelivery takes over (the worker before it was lost).
 * Attempts are counted in the record when they start, so an outage of Redis or NATS, which delays
 * a delivery without running it, costs no attempt, and a call whose worker died mid-attempt still
 * ends once its attempts are spent.
 *
 * No answer is held whole: the record keeps its first maxResultBytes (truncated, with its size),
 * and a larger 2xx answer to a call with a callback is streamed to the receiver as it comes.
 *
 * Near 400 lines on purpose: the transitions above are one state machine, and each guarded write
 * is read against the others; split across files, a reader could no longer check them together.
 * What is pure about an attempt's outcome lives in call-outcome.ts and retry-policy.ts, and what
 * a callback carries in call-callbacks.ts.
 */
export class CallWorker {
  private subscription: Subscription | undefined;
  private stopped = false;
  private starting: Promise<void> | undefined;
  private wakeWait: (() => void) | undefined;
  /** Resolves when stop() is called, so a start still waiting for NATS gives up instead of holding the stop. */
  private readonly stopping: Promise<undefined>;
  private markStopping: () => void = () => {};

  constructor(
    private readonly deps: WorkerDeps,
    private readonly concurrency: number,
  ) {
    this.stopping = new Promise((resolve) => {
      this.markStopping = () => resolve(undefined);
    });
  }

  /** Starts pulling once the gateway knows its functions (a call must not fail for a route not yet loaded). */
  start(): void {
    this.starting ??= (async () => {
      while (!this.stopped && this.deps.readiness.notReadyReason() !== undefined)
        await this.wait(READY_POLL_MS);
      if (this.stopped) return;
      const connected = await Promise.race([this.deps.queue.whenConnected(), this.stopping]);
      if (connected === undefined || this.stopped) return;
      this.subscription = await this.deps.queue.consume((message) => this.handle(message), {
        concurrency: this.concurrency,
        onError: (err) => this.deps.log.warn('async call subscription', { err: err.message }),
      });
    })();
  }

  /** Takes no more calls and waits for the ones running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.markStopping();
    this.wakeWait?.();
    await this.starting;
    await this.subscription?.stop();
  }

  /** One delivery. Never throws: every path settles the message itself, with a delay where it must wait. */
  async handle(message: BusMessage): Promise<void> {
    const call = decodeCall(message);
    if ('invalid' in call) {
      await this.discard(message, call.invalid);
      return;
    }
    try {
      await this.run(message, call);
    } catch (err) {
      const unavailable = err instanceof StoreUnavailableError || err instanceof BusUnavailableError;
      this.deps.log[unavailable ? 'warn' : 'error']('async call delivery put back for later', {
        callId: call.id,
        function: `${call.namespace}/${call.function}`,
        err: unavailable ? (err as Error).message : err,
      });
      message.nak(unavailable ? UNAVAILABLE_RETRY_MS : UNAVAILABLE_RETRY_MS * 5);
    }
  }

  private async run(message: BusMessage, call: CallRequest): Promise<void> {
    const { metrics } = this.deps;
    const route = this.deps.routes.get(call.namespace, call.function);
    const policy = retryPolicyOf(this.deps.directory.get(call.namespace, call.function)?.spec);
    let known: CallRecord | undefined;
    if (message.deliveryCount === 1 && route !== undefined) {
      // The common case, in one write: only a call that has not started is ever published (a new
      // call, one queued again after NATS refused it, a redrive), so it has no attempts yet.
      const started = await this.begin(call, 'queued', 1);
      if (started.applied) {
        await this.attempt(message, call, route, policy, 1);
        return;
      }
      known = started.record;
    }
    // Two rounds at most: a transition refused because the status moved meanwhile is looked at once more.
    for (let round = 0; round < 2; round++) {
      const record = known ?? (await this.recordOf(call));
      known = undefined;
      if (FINISHED_CALL_STATUSES.includes(record.status)) {
        metrics.skip(record.status);
        await message.ack();
        return;
      }
      if (record.status === 'running' && message.deliveryCount === 1) {
        metrics.skip('running');
        await message.ack();
        return;
      }
      if (route === undefined) {
        const lastError = `function ${call.function} not found in namespace ${call.namespace}`;
        await this.fail(message, call, record.attempts, 'function-not-found', lastError, { lastError });
        return;
      }
      if (record.attempts >= policy.maxAttempts) {
        const lastError =
          record.lastError ?? `the gateway running attempt ${record.attempts} stopped before it finished`;
        await this.fail(message, call, record.attempts, 'attempts-exhausted', lastError, { lastError });
        return;
      }
      const attempt = record.attempts + 1;
      if (!(await this.begin(call, record.status, attempt)).applied) continue;
      await this.attempt(message, call, route, policy, attempt);
      return;
    }
    // The status kept moving under us (a cancel, another delivery): let the next delivery look again.
    message.nak(UNAVAILABLE_RETRY_MS);
  }

  /** Marks attempt `attempt` as started, if the call is still `from`; counted when it applies. */
  private async begin(call: CallRequest, from: CallRecord['status'], attempt: number) {
    const startedAt = this.deps.now();
    const waitMs = Math.max(0, startedAt - call.acceptedAt);
    const started = await this.deps.calls.transition(call.id, [from], {
      status: 'running',
      attempts: attempt,
      startedAt,
      timings: { waitMs },
    });
    if (started.applied && attempt === 1)
      this.deps.metrics.queued(`${call.namespace}/${call.function}`, waitMs / 1000);
    return started;
  }

  private async attempt(
    message: BusMessage,
    call: CallRequest,
    route: FunctionRoute,
    policy: RetryPolicy,
    attempt: number,
  ): Promise<void> {
    const startedAt = this.deps.now();
    const span = DeliverySpan.attempt(this.deps.tracing, message.subject, call, attempt, startedAt);
    let streaming = false;
    const request = {
      method: call.method,
      path: call.path,
      headers: call.headers,
      body: call.body,
      keepBytes: this.deps.maxResultBytes,
      overflow: (head: ResponseHead) => {
        const stream = this.streamCallback(call, policy, attempt, head, startedAt);
        streaming = stream !== undefined;
        return stream;
      },
    };
    const outcome = await this.deps.invoker.call(route, span?.request(request) ?? request);
    // A stream cut short (the replica failed mid-answer) left the receiver nothing whole.
    const streamed = streaming && outcome.kind === 'response';
    const settled = this.settle(message, call, attempt, policy, outcome, streamed);
    await (span === undefined ? settled : span.endWhen(settled, outcome));
  }

  /**
   * The callback of an answer larger than the record keeps, as a stream the answer is written to
   * while it comes: only for an answer that ends the call (a 2xx), since one that will be retried
   * must not reach the receiver. It reaches the receiver before the record says succeeded, and
   * cannot be sent again once any of it went out (callback-sender.ts).
   */
  private streamCallback(
    call: CallRequest,
    policy: RetryPolicy,
    attempt: number,
    head: ResponseHead,
    startedAt: number,
  ): Writable | undefined {
    if (call.callbackUrl === undefined) return undefined;
    const decision = decideAfterAttempt(policy, attempt, { kind: 'response', status: head.status }, 0);
    if (decision.action !== 'succeed') return undefined;
    const body = new PassThrough();
    this.deps.callbacks.send(
      streamedCallback(call.callbackUrl, call, head, this.deps.now() - startedAt, body),
    );
    return body;
  }

  /** The record, made again from the message when it is gone (expired, or Redis lost it): a queued call is never dropped. */
  private async recordOf(call: CallRequest): Promise<CallRecord> {
    const { calls } = this.deps;
    const found = await calls.get(call.id);
    if (found !== undefined) return found;
    try {
      return await calls.create({
        id: call.id,
        namespace: call.namespace,
        function: call.function,
        createdAt: call.acceptedAt,
        ...(call.callbackUrl === undefined ? {} : { callbackUrl: call.callbackUrl }),
      });
    } catch (err) {
      if (!(err instanceof CallExistsError)) throw err;
      return (await calls.get(call.id)) as CallRecord;
    }
  }

  private async settle(
    message: BusMessage,
    call: CallRequest,
    attempt: number,
    policy: RetryPolicy,
    outcome: CallOutcome,
    streamed: boolean,
  ): Promise<DeliveryEnd> {
    const now = this.deps.now();
    const fn = `${call.namespace}/${call.function}`;
    const decision = decideAfterAttempt(policy, attempt, attemptOutcomeOf(outcome, now), this.deps.random());
    const timings = {
      ...(outcome.durationMs === undefined ? {} : { durationMs: outcome.durationMs }),
      ...(outcome.initMs === undefined ? {} : { initMs: outcome.initMs }),
    };
    const result =
      outcome.kind === 'response'
        ? { statusCode: outcome.status, headers: outcome.headers, body: outcome.body, size: outcome.size }
        : undefined;
    if (decision.action === 'succeed') {
      await this.finish(message, call, {
        status: 'succeeded',
        attempts: attempt,
        patch: { status: 'succeeded', finishedAt: now, timings, ...(result === undefined ? {} : { result }) },
        streamed,
      });
      return { error: undefined, retried: false };
    }
    const lastError = describeFailure(outcome, attempt);
    // The durable sets no delivery limit of its own; should one be set on it, its last delivery ends the call.
    if (decision.action === 'retry' && !message.lastAttempt) {
      await this.deps.calls.transition(call.id, ['running'], {
        status: 'queued',
        lastError,
        timings,
        ...(result === undefined ? {} : { result }),
      });
      this.deps.metrics.count('retried', fn);
      message.nak(decision.delayMs);
      return { error: lastError, retried: true };
    }
    await this.fail(
      message,
      call,
      attempt,
      decision.action === 'retry' ? 'max-deliver' : decision.reason,
      lastError,
      { lastError, timings, ...(result === undefined ? {} : { result }) },
      outcome,
    );
    return { error: lastError, retried: false };
  }

  /**
   * The call ends failed: dead letter (record, then NIMBUS_DLQ, both idempotent), then the record's
   * status, then the ack. A crash between the steps repeats them on the next delivery, which finds
   * the attempts spent and runs nothing.
   */
  private async fail(
    message: BusMessage,
    call: CallRequest,
    attempts: number,
    reason: string,
    lastError: string,
    patch: CallPatch,
    outcome?: CallOutcome,
  ): Promise<void> {
    const { deadLetters, queue, metrics, now } = this.deps;
    const headers: Record<string, string> = {
      ...call.headers,
      [DEAD_LETTER_PSEUDO.method]: call.method,
      [DEAD_LETTER_PSEUDO.path]: call.path,
    };
    if (call.callbackUrl !== undefined) headers[DEAD_LETTER_PSEUDO.callbackUrl] = call.callbackUrl;
    const failedAt = now();
    const { evicted } = await deadLetters.add({
      id: call.id,
      namespace: call.namespace,
      function: call.function,
      reason,
      lastError,
      attempts,
      request: { headers, body: call.body },
      failedAt,
    });
    await publishDeadLetter(
      queue,
      message,
      { namespace: call.namespace, function: call.function },
      lastError,
    );
    const fn = `${call.namespace}/${call.function}`;
    metrics.count('dead_lettered', fn);
    if (evicted.length > 0) {
      for (const _ of evicted) metrics.count('dead_letter_dropped', fn);
      this.deps.log.warn('dropped the oldest dead letters of a function at its bound', {
        function: fn,
        dropped: evicted,
      });
    }
    this.deps.log.warn('async call dead-lettered', {
      callId: call.id,
      function: `${call.namespace}/${call.function}`,
      reason,
      attempts,
      lastError: lastError.slice(0, 200),
    });
    await this.finish(
      message,
      call,
      { status: 'failed', attempts, patch: { ...patch, status: 'failed', finishedAt: failedAt } },
      outcome,
    );
  }

  /**
   * Records the outcome, then acknowledges. Whoever's transition applies counts it and sends the
   * callback, before the ack: an ack lost with NATS brings the message back, and that delivery
   * finds the call finished and sends nothing.
   */
  private async finish(
    message: BusMessage,
    call: CallRequest,
    final: Final,
    outcome?: CallOutcome,
  ): Promise<void> {
    // Before the record and the ack: a finish run again sends the same outcome id, stored once.
    await this.deps.destinations?.ended(callEnding(call, final));
    const done = await this.deps.calls.transition(call.id, ['running', 'queued'], final.patch);
    if (done.applied) {
      const fn = `${call.namespace}/${call.function}`;
      this.deps.metrics.count(final.status === 'succeeded' ? 'completed' : 'failed', fn);
      this.callBack(call, final, outcome);
    } else {
      this.deps.metrics.skip(done.record?.status ?? 'missing');
    }
    await message.ack();
  }

  private callBack(call: CallRequest, final: Final, outcome: CallOutcome | undefined): void {
    if (call.callbackUrl === undefined || final.streamed === true) return;
    this.deps.callbacks.send(finalCallback(call.callbackUrl, call, final.status, final.patch, outcome));
  }

  /** A message no gateway published: kept in NIMBUS_DLQ with why, and never delivered again. */
  private async discard(message: BusMessage, why: string): Promise<void> {
    const target = targetOfSubject(message.subject);
    this.deps.log.error('an async call message cannot be read; dead-lettered', {
      subject: message.subject,
      id: message.id,
      why,
    });
    if (target !== undefined) {
      try {
        await publishDeadLetter(this.deps.queue, message, target, `unreadable call message: ${why}`);
      } catch {
        message.nak(UNAVAILABLE_RETRY_MS);
        return;
      }
    }
    message.term();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeWait = done;
    });
  }
}
