import { type BusMessage, BusUnavailableError, type Subscription, publishDeadLetter } from '@nimbus/bus';
import {
  CallExistsError,
  type CallRecord,
  FINISHED_CALL_STATUSES,
  StoreUnavailableError,
} from '@nimbus/store';
import { type FunctionDirectory, type Readiness, declaredFunction } from '../ports.js';
import type { RouteTable } from '../routing/route-table.js';
import { type AttemptDeps, CallAttempts } from './call-attempt.js';
import { type CallRequest, decodeCall, targetOfSubject } from './call-message.js';
import { CallSettlement, type SettlementDeps } from './call-settlement.js';
import { retryPolicyOf } from './retry-policy.js';

/** How soon a delivery is tried again when Redis or NATS could not be reached; no attempt is counted. */
const UNAVAILABLE_RETRY_MS = 1_000;
const READY_POLL_MS = 50;

export interface WorkerDeps extends SettlementDeps, AttemptDeps {
  readonly routes: RouteTable;
  readonly directory: FunctionDirectory;
  readonly readiness: Readiness;
}

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
 * The transitions are one state machine in three files, read together: which delivery starts
 * which attempt (here: queued → running), the attempt itself (call-attempt.ts), and how the call
 * ends or is queued again (call-settlement.ts: succeeded, retried, or failed into a dead letter).
 * What is pure about an attempt's outcome lives in call-outcome.ts and retry-policy.ts, and what a
 * callback carries in call-callbacks.ts.
 */
export class CallWorker {
  private subscription: Subscription | undefined;
  private stopped = false;
  private starting: Promise<void> | undefined;
  private wakeWait: (() => void) | undefined;
  /** Resolves when stop() is called, so a start still waiting for NATS gives up instead of holding the stop. */
  private readonly stopping: Promise<undefined>;
  private markStopping: () => void = () => {};
  private readonly settlement: CallSettlement;
  private readonly attempts: CallAttempts;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly concurrency: number,
  ) {
    this.stopping = new Promise((resolve) => {
      this.markStopping = () => resolve(undefined);
    });
    this.settlement = new CallSettlement(deps);
    this.attempts = new CallAttempts(deps, this.settlement);
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
    const policy = retryPolicyOf(declaredFunction(this.deps.directory, call.namespace, call.function)?.spec);
    let known: CallRecord | undefined;
    if (message.deliveryCount === 1 && route !== undefined) {
      // The common case, in one write: only a call that has not started is ever published (a new
      // call, one queued again after NATS refused it, a redrive), so it has no attempts yet.
      const started = await this.begin(call, 'queued', 1);
      if (started.applied) {
        await this.attempts.run(message, call, route, policy, 1);
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
        await this.settlement.fail(message, call, record.attempts, 'function-not-found', lastError, {
          lastError,
        });
        return;
      }
      if (record.attempts >= policy.maxAttempts) {
        const lastError =
          record.lastError ?? `the gateway running attempt ${record.attempts} stopped before it finished`;
        await this.settlement.fail(message, call, record.attempts, 'attempts-exhausted', lastError, {
          lastError,
        });
        return;
      }
      const attempt = record.attempts + 1;
      if (!(await this.begin(call, record.status, attempt)).applied) continue;
      await this.attempts.run(message, call, route, policy, attempt);
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
