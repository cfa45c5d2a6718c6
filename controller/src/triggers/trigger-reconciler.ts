import type { FunctionResource, Logger } from '@nimbus/api';
import { EVENTS_STREAM, triggerConsumerPrefix } from '@nimbus/bus';
import { eventsStream, natsTriggers, triggerConsumers } from '@nimbus/bus';
import type { EventSink } from '../events/event-recorder.js';
import type { FunctionCleanup, FunctionStep } from '../reconcile/object-cache.js';
import type { LazyBusAdmin } from './lazy-bus-admin.js';

/**
 * Keeps JetStream in line with the Functions' NATS triggers: one events stream over every trigger
 * subject, and one durable consumer per function and subject (the gateways consume them). A
 * consumer a Function no longer asks for is deleted. As a FunctionCleanup it removes a deleted
 * Function's consumers before its finalizer goes: Kubernetes cannot collect what lives in NATS.
 *
 * The names of the stream's consumers are listed once and then kept as this controller changes
 * them, so a Function without triggers costs no call to NATS (and does not need NATS up).
 */
export class TriggerReconciler implements FunctionCleanup, FunctionStep {
  readonly name = 'nats-triggers';
  private consumers: Set<string> | undefined;

  constructor(
    private readonly bus: LazyBusAdmin,
    private readonly functions: { list(): Iterable<FunctionResource> },
    private readonly events: EventSink,
    private readonly log: Logger,
  ) {}

  appliesTo(fn: FunctionResource): boolean {
    return (fn.spec.triggers ?? []).some((t) => 'nats' in t);
  }

  /** Brings the stream and this Function's consumers in line; throws (to be retried) when NATS fails. */
  async reconcile(fn: FunctionResource): Promise<void> {
    try {
      await this.sync(fn);
    } catch (err) {
      this.events.emit(fn, 'Warning', 'TriggerSyncFailed', err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  private async sync(fn: FunctionResource): Promise<void> {
    const { refused } = natsTriggers(fn);
    for (const r of refused) this.events.emit(fn, 'Warning', 'TriggerRefused', r.reason);
    const wanted = triggerConsumers(fn);
    const prefix = triggerConsumerPrefix(fn.metadata.namespace, fn.metadata.name);
    if (wanted.length === 0) {
      // Triggers removed: their consumers go. Without NATS, that waits for a later reconcile.
      const stale = await this.named(prefix).catch((err: unknown) => {
        this.log.debug('could not list trigger consumers; a later reconcile will', { err });
        return [];
      });
      if (stale.length > 0) await this.remove(stale);
      if (stale.length > 0) await this.ensureStream();
      return;
    }
    const bus = await this.bus.get();
    await this.ensureStream();
    for (const consumer of wanted) {
      await bus.ensureConsumer(consumer);
      this.consumers?.add(consumer.name);
    }
    const keep = new Set(wanted.map((c) => c.name));
    await this.remove((await this.named(prefix)).filter((name) => !keep.has(name)));
  }

  /** The finalizer's part: the deleted Function's consumers go, and the stream drops subjects only it had. */
  async cleanup(fn: FunctionResource): Promise<void> {
    await this.remove(await this.named(triggerConsumerPrefix(fn.metadata.namespace, fn.metadata.name)));
    await this.ensureStream(fn);
  }

  private async ensureStream(leaving?: FunctionResource): Promise<void> {
    const bus = await this.bus.get();
    const all = [...this.functions.list()].filter(
      (f) => leaving === undefined || f.metadata.uid !== leaving.metadata.uid,
    );
    const stream = eventsStream(all);
    if (stream !== undefined) await bus.ensureStream(stream);
    else if ((await this.named('')).length === 0) await bus.deleteStream(EVENTS_STREAM);
  }

  private async remove(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const bus = await this.bus.get();
    for (const name of names) {
      this.log.info('deleting a trigger consumer no Function asks for', { consumer: name });
      await bus.deleteConsumer(EVENTS_STREAM, name);
      this.consumers?.delete(name);
    }
  }

  private async named(prefix: string): Promise<string[]> {
    if (this.consumers === undefined) {
      const bus = await this.bus.get();
      this.consumers = new Set((await bus.listConsumers(EVENTS_STREAM)).map((c) => c.config.name));
    }
    return [...this.consumers].filter((name) => name.startsWith(prefix));
  }
}
