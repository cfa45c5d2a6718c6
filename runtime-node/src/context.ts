import { inject, injectable } from 'tsyringe';
import type { Clock } from './clock.js';
import type { RuntimeConfig } from './config.js';
import type { FunctionContext, FunctionState } from './contract.js';
import type { EventPublisher } from './event-publisher.js';
import type { FunctionInvoker } from './function-invoker.js';
import type { Logger } from './logger.js';
import { TOKENS } from './tokens.js';

/** What one invocation contributes to its ctx. */
export interface InvocationInfo {
  readonly invocationId: string;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly traceparent: string | undefined;
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
    const { functionName, namespace } = this.config;
    const { invocationId, deadline, signal, traceparent } = info;
    const clock = this.clock;
    const invoker = this.invoker;
    const publisher = this.publisher;
    return Object.freeze({
      functionName,
      namespace,
      invocationId,
      deadline,
      signal,
      log: this.logger.child({ invocationId }),
      state: this.state,
      getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now()),
      publish: (subject: string, data: unknown) => publisher.publish(subject, data),
      invoke: (name: string, payload?: unknown) =>
        invoker.invoke(name, payload, { invocationId, namespace, traceparent, signal }),
    });
  }
}
