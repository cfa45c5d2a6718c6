import { type FunctionResource, type Logger, type ResolvedSource, sourceTriggersOf } from '@nimbus/api';
import {
  SOURCES_STREAM,
  sourceConsumerConfig,
  sourceConsumerPrefix,
  sourcesStreamConfig,
  storesInStream,
} from '@nimbus/bus';
import type { KubeClient } from '@nimbus/kube';
import { SourceConfigError, loadSourceKind, mapSecretReader } from '@nimbus/sources';
import type { EventSink } from '../events/event-recorder.js';
import type { FunctionCleanup, FunctionStep } from '../reconcile/object-cache.js';
import type { LazyBusAdmin } from '../triggers/lazy-bus-admin.js';
import type { Mirror, SecretMirrorStore } from './secret-mirror-store.js';
import type { TriggerSecretWatch } from './trigger-secret-watch.js';
import { readTriggerSecrets } from './trigger-secrets.js';
import type { TriggerProvisioning } from './trigger-status.js';

/**
 * Keeps what a Function's source triggers need in line, as a step of every reconcile and as a
 * finalizer's cleanup: copies the Secrets they name (if they opt in) beside the gateway, makes
 * what each needs on its origin (a replication slot and publication, a declared queue, a checked
 * bucket), the NIMBUS_SOURCES stream and a durable per trigger, and undoes all of it for a
 * trigger that goes or a Function deleted. What it found is kept per Function for its status
 * (TriggersReady); a change asks for the Function to be reconciled again, so the status says it.
 */
export class SourceReconciler implements FunctionStep, FunctionCleanup {
  readonly name = 'event-sources';
  private readonly outcomes = new Map<string, readonly TriggerProvisioning[]>();

  constructor(
    private readonly client: Pick<KubeClient, 'get' | 'getMetadata'>,
    private readonly mirrors: SecretMirrorStore,
    private readonly bus: LazyBusAdmin | undefined,
    private readonly events: EventSink,
    private readonly log: Logger,
    /** Asks for the Function to be reconciled again (its status to be written). */
    private readonly requeue: (fn: FunctionResource) => void,
    /** Told which Secrets each copy was made from, so a rotated one is copied again soon. */
    private readonly watch?: Pick<TriggerSecretWatch, 'remember' | 'forget'>,
  ) {}

  appliesTo(fn: FunctionResource): boolean {
    return sourceTriggersOf(fn).length > 0 || this.outcomes.has(keyOf(fn));
  }

  /** What the last reconcile found for each source trigger of the Function, or undefined when it has none. */
  provisioning(fn: FunctionResource): readonly TriggerProvisioning[] | undefined {
    return this.outcomes.get(keyOf(fn));
  }

  async reconcile(fn: FunctionResource): Promise<void> {
    const { namespace, name } = fn.metadata;
    const sources = sourceTriggersOf(fn);
    const before = await this.mirrors.read(namespace, name);
    if (sources.length === 0 && before === undefined) {
      this.record(fn, undefined);
      return;
    }
    const { values, problems, versions } = await readTriggerSecrets(this.client, namespace, sources);
    // Triggers that went, or changed kind: undone with the values they were made with.
    const leftOver: ResolvedSource[] = [];
    for (const old of before?.provisioned ?? []) {
      const now = sources.find((s) => s.name === old.name);
      if (now !== undefined && now.kind === old.kind) continue;
      if (!(await this.undo(fn, old, before?.values ?? new Map()))) leftOver.push(old);
    }
    if (sources.length === 0 && leftOver.length === 0) {
      await this.syncDurables(fn, []);
      await this.mirrors.remove(namespace, name);
      this.record(fn, undefined);
      return;
    }
    // The copy first: the gateway reads it to start the readers of what is made below.
    await this.mirrors.write(namespace, name, { values, provisioned: [...sources, ...leftOver] });
    this.watch?.remember(namespace, name, versions);
    const outcomes: TriggerProvisioning[] = [];
    for (const source of sources) {
      const problem = problems.find((p) => p.trigger === source.name);
      if (problem !== undefined) {
        outcomes.push({
          name: source.name,
          kind: source.kind,
          ok: false,
          reason: problem.reason,
          message: problem.message,
        });
        continue;
      }
      outcomes.push(await this.ensure(source, values));
    }
    await this.syncDurables(fn, sources);
    for (const outcome of outcomes)
      if (!outcome.ok && this.changed(fn, outcome))
        this.events.emit(fn, 'Warning', outcome.reason, outcome.message);
    this.record(fn, sources.length === 0 ? undefined : outcomes);
  }

  async cleanup(fn: FunctionResource): Promise<void> {
    const { namespace, name } = fn.metadata;
    const mirror = await this.mirrors.read(namespace, name);
    const failed: ResolvedSource[] = [];
    for (const source of mirror?.provisioned ?? [])
      if (!(await this.undo(fn, source, mirror?.values ?? new Map()))) failed.push(source);
    if (failed.length > 0) {
      // Kept, so the next attempt knows what is left; the finalizer waits for it.
      await this.mirrors.write(namespace, name, { values: mirror?.values ?? new Map(), provisioned: failed });
      throw new Error(
        `could not remove what source triggers ${failed.map((s) => s.name).join(', ')} made; retrying`,
      );
    }
    await this.syncDurables(fn, []);
    await this.mirrors.remove(namespace, name);
    this.watch?.forget(namespace, name);
    this.outcomes.delete(keyOf(fn));
  }

  private async ensure(
    source: ResolvedSource,
    values: ReadonlyMap<string, string>,
  ): Promise<TriggerProvisioning> {
    const base = { name: source.name, kind: source.kind };
    try {
      const module = await loadSourceKind(source.kind);
      await module.provisioner?.ensure(
        source,
        mapSecretReader(async () => values),
      );
      return {
        ...base,
        ok: true,
        reason: 'Provisioned',
        message: `${source.kind} trigger ${source.name} is set up`,
      };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reason = err instanceof SourceConfigError ? 'TriggerMisconfigured' : 'TriggerProvisionFailed';
      return { ...base, ok: false, reason, message: `spec.triggers[${source.name}]: ${message}` };
    }
  }

  /** Removes what a trigger made on its origin; false (logged, an Event) when that failed. */
  private async undo(
    fn: FunctionResource,
    source: ResolvedSource,
    values: ReadonlyMap<string, string>,
  ): Promise<boolean> {
    try {
      const module = await loadSourceKind(source.kind);
      await module.provisioner?.remove(
        source,
        mapSecretReader(async () => values),
      );
      this.log.info('removed what a source trigger had made', { function: keyOf(fn), trigger: source.name });
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.events.emit(fn, 'Warning', 'TriggerRemoveFailed', `spec.triggers[${source.name}]: ${message}`);
      return false;
    }
  }

  /** The stream and one durable per trigger that stores there; durables of triggers gone are deleted. */
  private async syncDurables(fn: FunctionResource, sources: readonly ResolvedSource[]): Promise<void> {
    if (this.bus === undefined) return;
    const bus = await this.bus.get();
    const stored = sources.filter(storesInStream);
    if (stored.length > 0) await bus.ensureStream(sourcesStreamConfig());
    for (const source of stored) await bus.ensureConsumer(sourceConsumerConfig(source));
    const prefix = sourceConsumerPrefix(fn.metadata.namespace, fn.metadata.name);
    const keep = new Set(stored.map((s) => sourceConsumerConfig(s).name));
    const existing = await bus.listConsumers(SOURCES_STREAM).catch(() => []);
    for (const consumer of existing) {
      const consumerName = consumer.config.name;
      if (consumerName.startsWith(prefix) && !keep.has(consumerName))
        await bus.deleteConsumer(SOURCES_STREAM, consumerName);
    }
  }

  private changed(fn: FunctionResource, outcome: TriggerProvisioning): boolean {
    const before = this.outcomes.get(keyOf(fn))?.find((o) => o.name === outcome.name);
    return before?.message !== outcome.message;
  }

  private record(fn: FunctionResource, outcomes: readonly TriggerProvisioning[] | undefined): void {
    const key = keyOf(fn);
    const before = this.outcomes.get(key);
    if (outcomes === undefined) {
      this.outcomes.delete(key);
      this.watch?.forget(fn.metadata.namespace, fn.metadata.name);
    } else this.outcomes.set(key, outcomes);
    if (JSON.stringify(before) !== JSON.stringify(outcomes)) this.requeue(fn);
  }
}

const keyOf = (fn: FunctionResource): string => `${fn.metadata.namespace}/${fn.metadata.name}`;

export type { Mirror };
