import type { FunctionResource, Logger } from '@nimbus/api';
import { systemClock } from '@nimbus/api';
import { type Schedule, schedulesOf } from '@nimbus/api';
import type { MessageBus } from '@nimbus/bus';
import type { Stores } from '@nimbus/store';
import type { Tracing } from '@nimbus/telemetry';
import { Counter, type Registry } from 'prom-client';
import type { Invoker } from '../invoke/invoker.js';
import type { FunctionDirectory } from '../ports.js';
import type { RouteTable } from '../routing/route-table.js';
import type { ScheduleConfig } from '../schedules/schedule-config.js';
import { ScheduleInvoker } from '../schedules/schedule-invoker.js';
import { Scheduler } from '../schedules/scheduler.js';
import type { EventSourceParts } from '../sources/event-source-parts.js';
import { TriggerWorker, type TriggerWorkerDeps } from './trigger-worker.js';

export interface EventSourceDeps {
  readonly directory: FunctionDirectory;
  readonly routes: RouteTable;
  readonly invoker: Pick<Invoker, 'call'>;
  readonly bus: () => Promise<MessageBus | undefined>;
  readonly stores: Stores;
  readonly schedules: ScheduleConfig;
  /** Local mode: no controller, so the gateway makes the trigger streams and durables itself. */
  readonly manageTopology: boolean;
  readonly concurrency: number;
  readonly registry: Registry;
  readonly log: Logger;
  /** Spans of trigger deliveries and cron ticks; absent, or without a tracer, none. */
  readonly tracing?: Tracing;
  /** The readers of source triggers (the durables they store into are delivered by the trigger worker). */
  readonly sources?: Pick<EventSourceParts, 'runner' | 'stop'>;
  /** Where events' outcomes go (spec.destinations). */
  readonly destinations?: TriggerWorkerDeps['destinations'];
}

/** How often the scheduler looks at its schedules: the most a tick fires late while all runs well. */
const SCHEDULE_PASS_MS = 250;
const TRIGGER_SYNC_MS = 2_000;

/**
 * What invokes functions besides callers: the NATS triggers, the cron schedules and the event
 * sources. Started and stopped with the gateway's async side.
 */
export class EventSources {
  private readonly triggers: TriggerWorker;
  private readonly scheduler: Scheduler;
  private readonly sources: EventSourceDeps['sources'];
  /** Parsed schedules by Function, kept until its triggers change. */
  private readonly parsed = new Map<string, { triggers: string; schedules: Schedule[] }>();

  constructor(deps: EventSourceDeps) {
    this.sources = deps.sources;
    const ticks = new Counter({
      name: 'nimbus_schedule_ticks_total',
      help:
        'Cron ticks by what became of them in this gateway: fired, missed (no pass in time), claim-failed, ' +
        'fire-failed, skipped (Forbid: the previous run still ran), replaced (Replace: it cancelled the previous run).',
      labelNames: ['result'],
      registers: [deps.registry],
    });
    this.triggers = new TriggerWorker({
      directory: deps.directory,
      routes: deps.routes,
      invoker: deps.invoker,
      bus: deps.bus,
      deadLetters: deps.stores.deadLetters,
      manageTopology: deps.manageTopology,
      concurrency: deps.concurrency,
      syncMs: TRIGGER_SYNC_MS,
      log: deps.log.child({ part: 'triggers' }),
      now: Date.now,
      tracing: deps.tracing,
      destinations: deps.destinations,
      leases: deps.stores.claims,
      owner: deps.schedules.owner,
    });
    this.scheduler = new Scheduler(
      () => this.schedulesOf(deps.directory.list()),
      deps.stores.claims,
      new ScheduleInvoker(deps.routes, deps.invoker, deps.tracing),
      systemClock,
      {
        owner: deps.schedules.owner,
        catchUpMs: deps.schedules.catchUpMs,
        passMs: SCHEDULE_PASS_MS,
        leaseMs: deps.schedules.leaseMs,
      },
      {
        fired: () => ticks.inc({ result: 'fired' }),
        missed: (_, count) => ticks.inc({ result: 'missed' }, count),
        failed: (_, stage) => ticks.inc({ result: `${stage}-failed` }),
        skipped: () => ticks.inc({ result: 'skipped' }),
        replaced: () => ticks.inc({ result: 'replaced' }),
      },
      deps.log.child({ part: 'schedules' }),
    );
  }

  start(): void {
    this.triggers.start();
    this.scheduler.start();
    this.sources?.runner.start();
  }

  async stop(): Promise<void> {
    // Readers first: what they still hand on goes into the durable path, not to a stopped worker.
    await this.sources?.stop();
    await Promise.all([this.triggers.stop(), this.scheduler.stop()]);
  }

  private schedulesOf(functions: readonly FunctionResource[]): Schedule[] {
    const all: Schedule[] = [];
    const seen = new Set<string>();
    for (const fn of functions) {
      const key = `${fn.metadata.namespace}/${fn.metadata.name}`;
      seen.add(key);
      const triggers = JSON.stringify(fn.spec.triggers ?? []);
      let entry = this.parsed.get(key);
      if (entry === undefined || entry.triggers !== triggers) {
        entry = { triggers, schedules: schedulesOf(fn).schedules };
        this.parsed.set(key, entry);
      }
      all.push(...entry.schedules);
    }
    for (const key of this.parsed.keys()) if (!seen.has(key)) this.parsed.delete(key);
    return all;
  }
}
