import type { Clock } from '@nimbus/api/clock';
import type { Logger } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from '../config.js';
import type { FunctionContext, FunctionState, InvokeResponse } from '../contract.js';
import { TOKENS } from '../tokens.js';
import type { Cancellation } from './cancellation.js';
import type { EventPublisher, PublishOptions } from './event-publisher.js';
import type { FunctionInvoker } from './function-invoker.js';
import type { InvocationSpans, OpenSpan } from './invocation-spans.js';
import { tracedCall, tracedState } from './traced-context.js';

/** What one invocation contributes to its ctx. */
export interface InvocationInfo {
  readonly invocationId: string;
  readonly deadline: number;
  /** Becomes `ctx.signal`. */
  readonly cancellation: Cancellation;
  readonly traceparent: string | undefined;
  /** Present when the invocation is traced: ctx's calls record spans under `parent`. */
  readonly trace?: { readonly spans: InvocationSpans; readonly parent: OpenSpan } | undefined;
}

/** Builds the handler's `ctx` from the runtime's shared adapters and one invocation's facts. */
@injectable()
export class ContextFactory {
  constructor(
    @inject(TOKENS.Config) private readonly config: Pick<RuntimeConfig, 'functionName' | 'namespace'>,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.StateStore) private readonly state: FunctionState,
    @inject(TOKENS.Publisher) private readonly publisher: EventPublisher,
    @inject(TOKENS.Invoker) private readonly invoker: FunctionInvoker,
  ) {}

  create(info: InvocationInfo): FunctionContext {
    return new InvocationContext(
      this.config,
      info,
      this.clock,
      this.logger,
      this.state,
      this.publisher,
      this.invoker,
    );
  }
}

/**
 * A handler's `ctx`, frozen. `signal` and `log` are getters on the prototype, made on first use:
 * most handlers read neither, and an AbortSignal or a child logger per request is a measurable part
 * of the runtime's cost per request (getters on the object itself would push every ctx into V8's
 * slow dictionary mode). So `{ ...ctx }` leaves those two out; everything else is an own property,
 * and the functions are arrows, so `const { invoke } = ctx` works.
 */
class InvocationContext implements FunctionContext {
  readonly functionName: string;
  readonly namespace: string;
  readonly invocationId: string;
  readonly deadline: number;
  readonly state: FunctionState;
  readonly getRemainingTimeInMillis: () => number;
  readonly publish: (subject: string, data: unknown, options?: PublishOptions) => Promise<string>;
  readonly invoke: (name: string, payload?: unknown) => Promise<InvokeResponse>;
  readonly #cancellation: Cancellation;
  readonly #logger: Logger;
  #log: Logger | undefined;

  constructor(
    config: Pick<RuntimeConfig, 'functionName' | 'namespace'>,
    info: InvocationInfo,
    clock: Clock,
    logger: Logger,
    state: FunctionState,
    publisher: EventPublisher,
    invoker: FunctionInvoker,
  ) {
    const { namespace } = config;
    const { invocationId, deadline, cancellation, traceparent, trace } = info;
    this.functionName = config.functionName;
    this.namespace = namespace;
    this.invocationId = invocationId;
    this.deadline = deadline;
    this.getRemainingTimeInMillis = () => Math.max(0, deadline - clock.now());
    // `cancellation.signal` is read only when a call is made: an AbortSignal per request costs.
    if (trace === undefined) {
      this.state = state;
      this.publish = (subject, data, options) => publisher.publish(subject, data, options);
      this.invoke = (name, payload) =>
        invoker.invoke(name, payload, { invocationId, namespace, traceparent, signal: cancellation.signal });
    } else {
      // The callee's spans hang under this call's own span, not the handler's.
      this.state = tracedState(state, trace);
      this.publish = (subject, data, options) =>
        tracedCall(trace, `ctx.publish ${subject}`, { 'messaging.destination.name': subject }, () =>
          publisher.publish(subject, data, options),
        );
      this.invoke = (name, payload) =>
        tracedCall(trace, `ctx.invoke ${name}`, { 'nimbus.callee': name }, (span) =>
          invoker
            .invoke(name, payload, {
              invocationId,
              namespace,
              traceparent: trace.spans.traceparent(span),
              signal: cancellation.signal,
            })
            .then((response) => {
              span.set('http.response.status_code', response.statusCode);
              return response;
            }),
        );
    }
    this.#cancellation = cancellation;
    this.#logger = logger;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#cancellation.signal;
  }

  get log(): Logger {
    // Private fields stay writable in a frozen object.
    this.#log ??= this.#logger.child({ invocationId: this.invocationId });
    return this.#log;
  }
}
