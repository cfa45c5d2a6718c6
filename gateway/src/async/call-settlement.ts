import type { Logger } from '@nimbus/api';
import { type BusMessage, publishDeadLetter } from '@nimbus/bus';
import type { CallPatch, CallStore, DeadLetterStore } from '@nimbus/store';
import type { Destinations } from '../destinations/destinations.js';
import { callEnding } from '../destinations/endings.js';
import type { CallOutcome } from '../invoke/invoker.js';
import type { AsyncMetrics } from '../metrics/async-metrics.js';
import { finalCallback } from './call-callbacks.js';
import type { CallRequest } from './call-message.js';
import { DEAD_LETTER_PSEUDO, attemptOutcomeOf, describeFailure } from './call-outcome.js';
import type { CallQueue } from './call-queue.js';
import type { CallbackSender } from './callback-sender.js';
import type { DeliveryEnd } from './delivery-span.js';
import { type RetryPolicy, decideAfterAttempt } from './retry-policy.js';

/** What ending or retrying a call touches. */
export interface SettlementDeps {
  readonly calls: CallStore;
  readonly deadLetters: DeadLetterStore;
  readonly queue: CallQueue;
  readonly callbacks: CallbackSender;
  readonly metrics: AsyncMetrics;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
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
 * How a call ends, or goes back to the queue, for the worker (call-worker.ts): succeeded, queued
 * again for a retry, or failed into a dead letter. Each is a guarded write on the call record made before the
 * message is settled, so a worker lost between the two leaves the next delivery to find what was
 * written.
 */
export class CallSettlement {
  constructor(private readonly deps: SettlementDeps) {}

  /** What attempt `attempt`'s outcome makes of the call, by its retry policy. */
  async settle(
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
  async fail(
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
}
