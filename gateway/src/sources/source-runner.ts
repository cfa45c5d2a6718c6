import {
  type Clock,
  type FunctionResource,
  type Logger,
  type ResolvedSource,
  sourceKey,
  sourceTriggersOf,
} from '@nimbus/api';
import {
  type SecretReader,
  type SourceCheckpoint,
  SourceConfigError,
  type SourceKindModule,
  type SourceReader,
  loadSourceKind,
} from '@nimbus/sources';
import type { FunctionDirectory } from '../ports.js';
import { type SecretLook, type SecretRotations, readSecretValues } from './secret-rotation.js';
import { type SetupFailure, requireSecrets, setupFailureOf } from './setup-failure.js';

/** The lease a reader of an exclusive kind runs under: one reader per trigger over every gateway. */
export interface ReaderLeases {
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  release(key: string, owner: string): Promise<boolean>;
}

/** Where a trigger's Secrets are read from: mirrored by the controller in a cluster, the environment locally. */
export interface TriggerSecrets {
  reader(namespace: string, fn: string): SecretReader;
}

/** Each trigger's small durable state, by `namespace/function/trigger`. */
export interface SourceCheckpoints {
  of(key: string): SourceCheckpoint;
}

export interface SourceRunnerDeps {
  readonly directory: FunctionDirectory;
  readonly leases: ReaderLeases;
  readonly secrets: TriggerSecrets;
  readonly checkpoints: SourceCheckpoints;
  /** The sink of one trigger, and how it reports. */
  readonly sinkFor: (source: ResolvedSource) => import('@nimbus/sources').SourceSink;
  /** Local mode: no controller, so the runner makes and removes what each source needs itself. */
  readonly provision: boolean;
  /** This gateway replica, as the holder of reader leases. */
  readonly owner: string;
  readonly leaseMs: number;
  readonly syncMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** A trigger stopped running here (gone, changed, or its lease lost). */
  readonly onStopped?: (source: ResolvedSource) => void;
  /** How setting a trigger up went: undefined once it is, or why its configuration stops it. */
  readonly onSetup: (source: ResolvedSource, failure: SetupFailure | undefined) => void;
  /** The values each trigger's Secrets held when last looked at: a change restarts its reader. */
  readonly rotations: SecretRotations;
}

interface Running {
  readonly source: ResolvedSource;
  readonly fingerprint: string;
  readonly reader: SourceReader;
  readonly leased: boolean;
}

const fingerprintOf = (source: ResolvedSource): string => JSON.stringify(source);

/**
 * Runs the readers of the Functions' source triggers in this gateway. A kind that must have one
 * reader per trigger (a replication slot, an MQTT session, a bucket listing) runs where its lease
 * is held: claimed by the first gateway to ask, renewed every pass, and lost (the reader stopped)
 * when a renewal fails, so a gateway that dies hands its triggers on once the lease lapses. A
 * kind every gateway reads (a queue shared out by its broker) runs in each. A trigger whose spec
 * changes, or whose Secrets' values do (a rotated password), is stopped and started again, so
 * it reconnects with what its Secrets hold now; one that goes is stopped (and, locally, its
 * origin cleaned up).
 */
export class SourceRunner {
  private readonly running = new Map<string, Running>();
  /** Local mode: what was provisioned, so a trigger that goes can be removed from its origin. */
  private readonly provisioned = new Map<string, { source: ResolvedSource; fingerprint: string }>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The last reason each trigger could not start, as logged. */
  private readonly said = new Map<string, string>();

  constructor(private readonly deps: SourceRunnerDeps) {}

  start(): void {
    const loop = () => {
      this.syncing = this.sync()
        .catch((err: unknown) =>
          this.deps.log.warn('could not bring the event sources in line; trying again', { err }),
        )
        .finally(() => {
          // A timer of its own, not the clock's: the pass is housekeeping, like the trigger worker's.
          if (!this.stopped) this.timer = setTimeout(loop, this.deps.syncMs).unref();
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.syncing;
    await Promise.all([...this.running.values()].map((r) => this.halt(r)));
    this.running.clear();
  }

  /** One pass: readers for triggers that came, renewals for those that run, stops for those that went. */
  async sync(): Promise<void> {
    const wanted = new Map<string, ResolvedSource>();
    for (const fn of this.deps.directory.list() as readonly FunctionResource[]) {
      if (fn.metadata.deletionTimestamp !== undefined) continue;
      for (const source of sourceTriggersOf(fn)) wanted.set(sourceKey(source), source);
    }
    for (const [key, running] of this.running) {
      const source = wanted.get(key);
      if (
        source !== undefined &&
        fingerprintOf(source) === running.fingerprint &&
        (await this.keep(running)) &&
        !(await this.rotated(source))
      )
        continue;
      this.running.delete(key);
      await this.halt(running);
    }
    for (const key of this.said.keys()) if (!wanted.has(key)) this.said.delete(key);
    this.deps.rotations.retain(new Set(wanted.keys()));
    if (this.deps.provision) await this.unprovision(wanted);
    for (const [key, source] of wanted) {
      if (this.stopped) return;
      if (this.running.has(key)) continue;
      await this.begin(source).catch((err: unknown) => this.failed(source, err));
    }
  }

  /** Triggers running here, by key. */
  keys(): string[] {
    return [...this.running.keys()];
  }

  private async begin(source: ResolvedSource): Promise<void> {
    const module: SourceKindModule = await loadSourceKind(source.kind);
    const secrets = this.deps.secrets.reader(source.namespace, source.function);
    const fingerprint = fingerprintOf(source);
    const key = sourceKey(source);
    // What its Secrets hold as it starts: a later pass restarts it when that changes.
    await this.look(source);
    // Every key its Secrets should give, first: a missing one is said as such.
    await requireSecrets(source, secrets);
    // Set up again when its Secrets changed too: they may name another server.
    const provisionedAs = `${fingerprint}#${this.deps.rotations.generation(key)}`;
    if (this.deps.provision && this.provisioned.get(key)?.fingerprint !== provisionedAs) {
      await module.provisioner?.ensure(source, secrets);
      this.provisioned.set(key, { source, fingerprint: provisionedAs });
    }
    const sink = this.deps.sinkFor(source);
    this.deps.onSetup(source, undefined);
    const reader = module.reader?.({
      source,
      secrets,
      sink,
      checkpoint: this.deps.checkpoints.of(key),
      clock: this.deps.clock,
      log: this.deps.log.child({ trigger: key, kind: source.kind }),
    });
    if (reader === undefined) {
      // Pushed to the gateway (a webhook, S3 notifications): served by the route, nothing to run.
      sink.report({ connected: true });
      return;
    }
    const leased = module.exclusive;
    if (leased && !(await this.deps.leases.claim(leaseKey(key), this.deps.owner, this.deps.leaseMs))) return;
    reader.start();
    this.said.delete(key);
    this.running.set(key, { source, fingerprint, reader, leased });
    this.deps.log.info('started an event source', { trigger: key, kind: source.kind, leased });
  }

  /** Whether a running trigger may go on: its lease renewed (a kind without one always may). */
  private async keep(running: Running): Promise<boolean> {
    if (!running.leased) return true;
    const held = await this.deps.leases
      .renew(leaseKey(sourceKey(running.source)), this.deps.owner, this.deps.leaseMs)
      .catch(() => false);
    if (!held)
      this.deps.log.warn('lost the lease of an event source; stopping its reader here', {
        trigger: sourceKey(running.source),
      });
    return held;
  }

  /** Whether a running trigger's Secrets changed since it started: then it starts again with them. */
  private async rotated(source: ResolvedSource): Promise<boolean> {
    if ((await this.look(source)) !== 'rotated') return false;
    this.deps.log.info("an event source's Secret changed; restarting its reader with it", {
      trigger: sourceKey(source),
    });
    return true;
  }

  /** Looks at a trigger's Secrets; a failure to read them (not their absence) changes nothing. */
  private async look(source: ResolvedSource): Promise<SecretLook | undefined> {
    const reader = this.deps.secrets.reader(source.namespace, source.function);
    try {
      const values = await readSecretValues(source, reader);
      return this.deps.rotations.observe(sourceKey(source), values, this.deps.clock.now());
    } catch {
      return undefined;
    }
  }

  private async halt(running: Running): Promise<void> {
    const key = sourceKey(running.source);
    try {
      await running.reader.stop();
    } catch (err) {
      this.deps.log.warn('an event source did not stop cleanly', { trigger: key, err });
    }
    if (running.leased) await this.deps.leases.release(leaseKey(key), this.deps.owner).catch(() => false);
    this.deps.onStopped?.(running.source);
    this.deps.log.info('stopped an event source', { trigger: key });
  }

  /** Local mode: removes from their origins the triggers that went (a changed one is ensured again). */
  private async unprovision(wanted: ReadonlyMap<string, ResolvedSource>): Promise<void> {
    for (const [key, { source }] of this.provisioned) {
      if (wanted.has(key)) continue;
      try {
        const module = await loadSourceKind(source.kind);
        await module.provisioner?.remove(source, this.deps.secrets.reader(source.namespace, source.function));
        await this.deps.checkpoints.of(key).clear();
        this.provisioned.delete(key);
      } catch (err) {
        this.deps.log.warn('could not remove what an event source had made; trying again', {
          trigger: key,
          err,
        });
      }
    }
  }

  /**
   * A trigger that could not start: its health says why (its configuration, or a server out of
   * reach), and the log says it once per reason (a trigger whose Secret is not given in local mode
   * is retried every pass, quietly).
   */
  private failed(source: ResolvedSource, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const setup = setupFailureOf(source, err);
    if (setup === undefined) this.deps.sinkFor(source).report({ connected: false, lastError: message });
    else this.deps.onSetup(source, setup);
    const key = sourceKey(source);
    if (this.said.get(key) === message) return;
    this.said.set(key, message);
    const what =
      err instanceof SourceConfigError
        ? 'an event source cannot run as configured'
        : 'an event source could not start; trying again';
    this.deps.log.warn(what, { trigger: key, kind: source.kind, err: message });
  }
}

const leaseKey = (key: string): string => `source-reader:${key}`;
