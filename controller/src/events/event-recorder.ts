import { randomBytes } from 'node:crypto';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES } from '@nimbus/kube';

export type EventType = 'Normal' | 'Warning';

/** Where the reconciler reports what happened to a Function, for `kubectl describe` and `kubectl get events`. */
export interface EventSink {
  emit(object: KubeObject, type: EventType, reason: string, message: string): void;
}

/** Repeats of one event within this window raise its count instead of adding an event. */
const AGGREGATE_MS = 10 * 60_000;
const REMEMBERED = 4096;

/**
 * Writes core/v1 Events. A repeat (same object, reason and message) within ten minutes bumps
 * the count of the first, as kubectl's and client-go's recorders do, so a Function stuck on one
 * error leaves one event, not thousands. Best effort: a failed write is logged and dropped,
 * never a reason to fail a reconcile.
 */
export class EventRecorder implements EventSink {
  private readonly recent = new Map<
    string,
    { name: string; namespace: string; count: number; first: number }
  >();

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly instance: string,
  ) {}

  emit(object: KubeObject, type: EventType, reason: string, message: string): void {
    void this.write(object, type, reason, message).catch((err: unknown) =>
      this.log.warn('could not record an event', { reason, object: object.metadata.name, err }),
    );
  }

  private async write(object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = this.clock.now();
    const stamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    const key = `${object.metadata.uid}\n${reason}\n${message}`;
    const seen = this.recent.get(key);
    if (seen !== undefined && now - seen.first < AGGREGATE_MS) {
      seen.count++;
      await this.client.mergePatch(RESOURCES.events, seen.namespace, seen.name, {
        count: seen.count,
        lastTimestamp: stamp,
      });
      return;
    }
    const namespace = object.metadata.namespace ?? 'default';
    const name = `${object.metadata.name}.${randomBytes(8).toString('hex')}`;
    this.remember(key, { name, namespace, count: 1, first: now });
    await this.client.create(RESOURCES.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace,
        uid: object.metadata.uid,
        resourceVersion: object.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      count: 1,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      source: { component: 'nimbus-controller' },
      reportingComponent: 'nimbus.dev/controller',
      reportingInstance: this.instance,
    } as KubeObject);
  }

  private remember(
    key: string,
    entry: { name: string; namespace: string; count: number; first: number },
  ): void {
    if (this.recent.size >= REMEMBERED) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.recent.set(key, entry);
  }
}
