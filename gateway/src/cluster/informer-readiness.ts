import { inject, injectable } from 'tsyringe';
import type { Readiness } from '../ports.js';
import { TOKENS } from '../tokens.js';

/** What readiness needs of an informer: whether its first list is in. */
export interface Syncable {
  readonly hasSynced: boolean;
}

/**
 * Not ready until the first lists of Functions and EndpointSlices are in: before that the gateway
 * would answer 404 for functions that exist, or 503 for replicas that are ready.
 */
@injectable()
export class InformerReadiness implements Readiness {
  private shuttingDown = false;

  constructor(
    @inject(TOKENS.FunctionInformers) private readonly functions: Syncable,
    @inject(TOKENS.EndpointSliceInformers) private readonly slices: Syncable,
  ) {}

  /** From SIGTERM on, /readyz says so, and load balancers stop sending before the gateway stops listening. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  notReadyReason(): string | undefined {
    if (this.shuttingDown) return 'shutting down: finishing requests in flight';
    const waiting = [
      ...(this.functions.hasSynced ? [] : ['Functions']),
      ...(this.slices.hasSynced ? [] : ['EndpointSlices']),
    ];
    return waiting.length === 0
      ? undefined
      : `waiting for the first list of ${waiting.join(' and ')} from the Kubernetes API`;
  }
}
