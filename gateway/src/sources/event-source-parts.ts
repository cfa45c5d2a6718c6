import type { Clock, Logger, ResolvedSource } from '@nimbus/api';
import type { MessageBus } from '@nimbus/bus';
import type { ClaimStore, DeadLetterStore } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import type { Registry } from 'prom-client';
import type { Ending } from '../destinations/outcome-event.js';
import type { Invoker } from '../invoke/invoker.js';
import { SecretGraceMetrics } from '../metrics/secret-grace-metrics.js';
import type { FunctionDirectory } from '../ports.js';
import type { RouteTable } from '../routing/route-table.js';
import { BusSourceSink } from './bus-sink.js';
import { DirectDelivery } from './direct-delivery.js';
import { PushedSources } from './pushed-sources.js';
import { SecretRotations } from './secret-rotation.js';
import { SourceHealthBoard } from './source-health.js';
import { type SourceCheckpoints, SourceRunner, type TriggerSecrets } from './source-runner.js';

export interface EventSourceDeps {
  readonly directory: FunctionDirectory;
  readonly routes: RouteTable;
  readonly invoker: Pick<Invoker, 'call'>;
  readonly bus: () => Promise<MessageBus | undefined>;
  readonly deadLetters: DeadLetterStore;
  readonly claims: ClaimStore;
  readonly secrets: TriggerSecrets;
  readonly checkpoints: SourceCheckpoints;
  /** Local mode: the gateway makes and removes what each source needs (no controller does). */
  readonly provision: boolean;
  readonly owner: string;
  readonly maxBodyBytes: number;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: Logger;
  /** Where the outcome of an event delivered straight from its origin goes (spec.destinations). */
  readonly destinations?: { ended(ending: Ending): Promise<void> };
  /** How long a pushed trigger still accepts what its Secrets held before a rotation (0: not at all). */
  readonly secretGraceMs: number;
  /** Spans for events delivered straight from their origin (NATS-stored ones get theirs in the trigger worker). */
  readonly tracing?: Tracing;
}

/** The gateway's side of the event sources: readers, the pushed endpoint, straight deliveries and health. */
export interface EventSourceParts {
  readonly runner: SourceRunner;
  readonly pushed: PushedSources;
  readonly health: SourceHealthBoard;
  stop(): Promise<void>;
}

const READER_LEASE_MS = 15_000;
const SYNC_MS = 2_000;

export function createEventSourceParts(deps: EventSourceDeps): EventSourceParts {
  const log = deps.log.child({ part: 'sources' });
  const health = new SourceHealthBoard(deps.registry, () => deps.clock.now());
  const direct = new DirectDelivery({
    routes: deps.routes,
    invoker: deps.invoker,
    deadLetters: deps.deadLetters,
    clock: deps.clock,
    log,
    destinations: deps.destinations,
    tracing: deps.tracing,
  });
  const rotations = new SecretRotations(deps.secretGraceMs);
  const sinkFor = (source: ResolvedSource) => new BusSourceSink(source, { bus: deps.bus, direct, health });
  const runner = new SourceRunner({
    directory: deps.directory,
    leases: deps.claims,
    secrets: deps.secrets,
    checkpoints: deps.checkpoints,
    sinkFor,
    provision: deps.provision,
    owner: deps.owner,
    leaseMs: READER_LEASE_MS,
    syncMs: SYNC_MS,
    clock: deps.clock,
    log,
    onStopped: (source) => health.forget(source),
    onSetup: (source, failure) => health.setup(source, failure),
    rotations,
  });
  const pushed = new PushedSources({
    directory: deps.directory,
    secrets: deps.secrets,
    sinkFor,
    health,
    seen: deps.claims,
    maxBodyBytes: deps.maxBodyBytes,
    now: () => deps.clock.now(),
    log,
    rotations,
    grace: new SecretGraceMetrics(deps.registry),
  });
  return {
    runner,
    pushed,
    health,
    async stop() {
      direct.stop();
      await runner.stop();
    },
  };
}
