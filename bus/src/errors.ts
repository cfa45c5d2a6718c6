/** Anything the bus refuses or fails at; the original error, if any, is the `cause`. */
export class BusError extends Error {
  override readonly name: string = 'BusError';
}

/** Why nothing was stored or settled: the caller may try again later (the gateway answers 503). */
export type UnavailableReason = 'disconnected' | 'timeout' | 'closed' | 'no-stream';

/**
 * The bus could not reach its server, or no stream took the subject, within the bound; nothing is
 * known to be stored. Publishing again with the same message id is safe: the stream deduplicates.
 */
export class BusUnavailableError extends BusError {
  override readonly name = 'BusUnavailableError';

  constructor(
    message: string,
    readonly reason: UnavailableReason,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A stream, consumer, subject or header the bus will not accept as given; retrying will not help. */
export class BusConfigError extends BusError {
  override readonly name: string = 'BusConfigError';
}

/**
 * A message larger than the server takes (NATS max_payload, 1 MiB unless configured): it can never
 * be stored as it is, so a caller that would give it again forever should set it aside instead.
 */
export class BusPayloadTooLargeError extends BusConfigError {
  override readonly name = 'BusPayloadTooLargeError';
}
