import type { Driven } from './drive.js';
import type { LocalGateway } from './local-gateway.js';
import type { OriginStamp } from './recorder.js';

/**
 * One event source as the events benchmark drives it: the trigger its function gets, how an event
 * is published at the origin, and the bare client that reads the same events for the baseline.
 */
export interface SourceDriver {
  /** The row's name, and the recorder function's. */
  readonly name: string;
  readonly origin: OriginStamp;
  /** The `spec.triggers` entry, as YAML lines starting `- name:`. */
  readonly trigger: string;
  /** Local mode's environment the trigger needs (its Secrets, as NIMBUS_SECRET_<NAME>_<KEY>). */
  readonly env: Readonly<Record<string, string>>;
  /** Events of the saturation phase. */
  readonly saturationEvents: number;
  /** Publishers in flight at once. */
  readonly lanes: number;
  /** The paced phase's rate when the origin cannot take PACED_RATE_PER_S (a store's puts); its p99 then has no verdict. */
  readonly pacedRatePerS?: number;
  /** What the baseline measures, for the table. */
  readonly baselineNote: string;
  /** The origin's server process (its CPU is charged to the source), or undefined when the gateway is the origin. */
  originPid(): number | undefined;
  /** Before the gateway starts: tables, exchanges, buckets its trigger names. */
  prepare(): Promise<void>;
  /** Once the gateway listens: opens the publishing clients. */
  connect(gatewayUrl: string): Promise<void>;
  /** Publishes event `n` of `phase` from `lane`; resolves once the origin has taken it. */
  publish(phase: string, n: number, lane: number): Promise<void>;
  /**
   * The saturation phase sent its own way, instead of `publish` from every lane: a backlog the
   * origin takes while the reader is held off, then let go (Driven.releasedAt).
   */
  saturate?(count: number, gateway: LocalGateway): Promise<Driven>;
  /** Before the saturation phase: sets the bare client up so it gets the same events. */
  armBaseline(): Promise<void>;
  /** After it: the bare client's rate over the `count` events, in events/s; null when there is none. */
  baseline(count: number): Promise<number | null>;
  close(): Promise<void>;
}
