import { PassThrough, type Writable } from 'node:stream';
import type { BusMessage } from '@nimbus/bus';
import type { Tracing } from '@nimbus/telemetry';
import type { Invoker, ResponseHead } from '../invoke/invoker.js';
import type { FunctionRoute } from '../routing/route-table.js';
import { streamedCallback } from './call-callbacks.js';
import type { CallRequest } from './call-message.js';
import type { CallSettlement } from './call-settlement.js';
import type { CallbackSender } from './callback-sender.js';
import { DeliverySpan } from './delivery-span.js';
import { type RetryPolicy, decideAfterAttempt } from './retry-policy.js';

/** What running one attempt of a call touches. */
export interface AttemptDeps {
  readonly invoker: Pick<Invoker, 'call'>;
  readonly callbacks: CallbackSender;
  readonly now: () => number;
  /** The most of an answer held and recorded (the store's NIMBUS_CALL_MAX_RESULT_BYTES). */
  readonly maxResultBytes: number;
  /** Spans of the attempts, under each call's enqueue span; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
}

/**
 * One attempt of a call whose record the worker has already marked running (call-worker.ts): the
 * function is invoked, and its outcome handed to the settlement, under the attempt's span.
 */
export class CallAttempts {
  constructor(
    private readonly deps: AttemptDeps,
    private readonly settlement: Pick<CallSettlement, 'settle'>,
  ) {}

  async run(
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
    const settled = this.settlement.settle(message, call, attempt, policy, outcome, streamed);
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
}
