/** What ctx.publish takes besides the subject and data. */
export interface PublishOptions {
  /** The data's content type; a string under a non-JSON type goes as it is. Default: JSON (bytes: octet-stream). */
  readonly contentType?: string;
  /** The CloudEvent type (ce-type); default: the subject. */
  readonly type?: string;
}

/** ctx.publish's port: to the gateway's events endpoint (cluster) or the supervisor (local mode). */
export interface EventPublisher {
  /** Resolves with the event's id (its ce-id). */
  publish(subject: string, data: unknown, options?: PublishOptions): Promise<string>;
  /** Lets go of connections; calls still waiting fail. */
  close(): Promise<void>;
}

/**
 * What ctx.publish rejects with. Handlers tell them apart by `name`; a refusal carries the
 * gateway's status and code. Not HttpErrors: a refused publish the handler does not catch is the
 * handler's failure (500), not something to pass on to its caller as the gateway's status.
 */
export class PublishError extends Error {
  constructor(
    name: string,
    message: string,
    /** The gateway's answer (403 reserved subject, 413 too large ...); 0 when it never answered. */
    readonly status = 0,
    readonly code = name,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = name;
  }
}

export class PublisherNotConfiguredError extends PublishError {
  constructor() {
    super(
      'PublisherNotConfiguredError',
      'ctx.publish is not configured for this runtime: it needs NIMBUS_EVENTS_URL and a function token (a cluster) or a local-mode supervisor',
    );
  }
}

/** Stands in when the environment names no way to publish. */
export class UnconfiguredPublisher implements EventPublisher {
  publish(): Promise<string> {
    return Promise.reject(new PublisherNotConfiguredError());
  }

  async close(): Promise<void> {}
}

/** The body the gateway (or the supervisor) takes; bytes go as base64. Throws a PublishError for a bad argument. */
export function publishRequest(
  subject: unknown,
  data: unknown,
  options: PublishOptions | undefined,
): Record<string, unknown> {
  if (typeof subject !== 'string' || subject === '')
    throw new PublishError(
      'PublishRefusedError',
      'ctx.publish: subject must be a non-empty string',
      400,
      'InvalidSubject',
    );
  const { contentType, type } = options ?? {};
  const extra = {
    ...(contentType === undefined ? {} : { contentType }),
    ...(type === undefined ? {} : { type }),
  };
  if (data instanceof Uint8Array)
    return {
      subject,
      dataBase64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      ...extra,
    };
  if (typeof data === 'function' || typeof data === 'symbol' || typeof data === 'bigint')
    throw new PublishError(
      'PublishRefusedError',
      `ctx.publish: data must be JSON, bytes or a string, not a ${typeof data}`,
      400,
      'InvalidEvent',
    );
  return { subject, data: data ?? null, ...extra };
}
