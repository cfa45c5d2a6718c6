import type { Clock, Logger } from '@nimbus/api';
import type { Dispatcher } from 'undici';
import type { GatewayConfig } from '../config.js';
import type { Endpoint, FunctionRoute } from '../routing/route-table.js';

/** What the invoke path records (GatewayMetrics). Times in seconds. */
export interface InvokeMetrics {
  /** `fn` is the function's key, or '' for a request that named no known function; `traceId` when the call was traced. */
  record(fn: string, code: number, seconds: number, traceId?: string): void;
  /** How long a request was held for a ready replica. */
  recordColdStart(fn: string, seconds: number): void;
  /** A request held for a ready replica was refused: the hold queue was full, or no replica came in time. */
  recordColdStartFailure(fn: string): void;
}

/** What a streaming exchange and a buffered call share: made once, by the invoker. */
export interface Upstream {
  readonly dispatcher: Dispatcher;
  readonly config: Pick<GatewayConfig, 'maxBodyBytes' | 'timeoutGraceMs'>;
  readonly log: Logger;
  readonly metrics: InvokeMetrics;
  /** Times a request's wait in a replica queue (routing/replica-queue.ts). */
  readonly clock: Clock;
  /** The replica for the next attempt at a request: least in flight, not one in `exclude`. */
  pick(route: FunctionRoute, exclude: ReadonlySet<Endpoint> | undefined): Endpoint | undefined;
}
