/** ctx.publish's port to the event bus. */
export interface EventPublisher {
  publish(subject: string, data: unknown): Promise<void>;
}

export class PublisherNotConfiguredError extends Error {
  constructor() {
    super('NATS is not configured for this runtime; ctx.publish is unavailable');
    this.name = 'PublisherNotConfiguredError';
  }
}

/** Stands in until a NATS adapter is registered under TOKENS.Publisher. */
export class UnconfiguredPublisher implements EventPublisher {
  publish(): Promise<void> {
    return Promise.reject(new PublisherNotConfiguredError());
  }
}
