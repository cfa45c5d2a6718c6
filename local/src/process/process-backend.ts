import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import type { EndpointAddress, LocalListeners } from '@nimbus/gateway';
import type { Publisher } from '@nimbus/gateway';
import { inject, injectable } from 'tsyringe';
import { TOKENS } from '../tokens.js';
import { type CommandLaunch, CommandReplica, type ReadinessCheck } from './command-replica.js';
import { freeLoopbackPort } from './free-port.js';
import type { LogBook } from './log-book.js';
import type { PublishHost } from './publish-host.js';
import { Replica, type ReplicaHandle, type ReplicaListener } from './replica.js';
import { type BackoffPolicy, crashesAfter, restartDelay } from './restart-backoff.js';
import type { Spawn, SpawnCommand } from './spawn.js';
import { StartSteps } from './start-steps.js';
import type { StateHost, StateScope } from './state-host.js';
import type { WarmPools } from './warm-pool.js';

/** What a function should be running: the process backend's counterpart of a Deployment spec. */
export interface ReplicaSetSpec {
  key: string;
  /** Changes with anything that needs new processes (code, env, settings). */
  revision: string;
  env: Record<string, string>;
  replicas: number;
  /** How long a stopping replica may take to finish its work before it is killed. */
  stopGraceMs: number;
  /** The key space its replicas' ctx.state calls reach through the supervisor; undefined: none. */
  state?: StateScope;
  /** The function its replicas' ctx.publish calls publish as, through the supervisor; undefined: none. */
  publisher?: Publisher;
  /** A container function: this command runs instead of runtime-node (env is added to it). */
  command?: Omit<CommandLaunch, 'env'>;
  /** A python3.11 function: runtime-python runs instead of runtime-node, from its own warm pool. */
  python?: boolean;
}

/** How runtime-python is started: its launcher, and the spawn that runs it with python3. */
export interface PythonRuntime {
  entry: string;
  spawn: Spawn;
}

export interface ReplicaSetStatus {
  revision: string;
  replicas: number;
  readyReplicas: number;
  endpoints: EndpointAddress[];
  /** Why the newest revision is not serving, when it is not. */
  problem: string | undefined;
  /** The problem will not pass by waiting (a handler that fails to load); a crash being restarted will. */
  problemIsTerminal: boolean;
}

/** One place a replica belongs: it survives the replica, so crash counts carry over restarts. */
interface Slot {
  replica: ReplicaHandle | undefined;
  crashes: number;
  restartTimer: unknown;
  nextRestartAt: number | undefined;
}

interface Revision {
  spec: ReplicaSetSpec;
  slots: Slot[];
}

/** A function's processes: the revision serving now, and the one rolling out to replace it. */
interface Group {
  current: Revision;
  next: Revision | undefined;
}

/**
 * Runs each function's replicas as runtime-node child processes on loopback. Like a
 * Deployment's rolling update, a new revision serves beside the old one until all its
 * replicas are ready; one that never gets ready leaves the old one serving. A crashed
 * replica is restarted with exponential backoff.
 */
@injectable()
export class ProcessBackend implements ReplicaListener, LocalListeners {
  private readonly groups = new Map<string, Group>();
  /** Every replica process not yet exited, the ones draining after a scale-down or rollout included. */
  private readonly live = new Set<ReplicaHandle>();
  /** Replicas a traced wake started, as steps of its trace. */
  readonly starts = new StartSteps();
  private readonly listeners: ((key: string) => void)[] = [];
  private sequence = 0;
  private shuttingDown = false;

  constructor(
    @inject(TOKENS.RuntimeEntry) private readonly entry: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly log: Logger,
    @inject(TOKENS.Backoff) private readonly backoff: BackoffPolicy,
    @inject(TOKENS.Spawn) private readonly spawnFn: Spawn,
    @inject(TOKENS.WarmPools) private readonly pools: WarmPools,
    @inject(TOKENS.StateHost) private readonly stateHost: StateHost,
    @inject(TOKENS.PublishHost) private readonly publishHost: PublishHost,
    @inject(TOKENS.SpawnCommand) private readonly spawnCommandFn: SpawnCommand,
    @inject(TOKENS.ReadinessCheck) private readonly readinessCheck: ReadinessCheck,
    @inject(TOKENS.LogBook) private readonly logBook: LogBook,
    @inject(TOKENS.PythonRuntime) private readonly python: PythonRuntime,
  ) {}

  /** Called with a function's key whenever its endpoints or status may have changed. */
  onChange(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  apply(spec: ReplicaSetSpec): void {
    // Its runtime's pool fills now (a no-op once filled), so its first wake finds a member ready.
    this.pools.forRuntime(spec.python === true);
    const group = this.groups.get(spec.key);
    if (group === undefined) {
      this.groups.set(spec.key, { current: this.startRevision(spec), next: undefined });
    } else if (group.current.spec.revision === spec.revision) {
      if (group.next !== undefined) this.retire(group.next); // an edit was undone before it rolled out
      group.next = undefined;
      this.resize(group.current, spec);
    } else if (group.next?.spec.revision === spec.revision) {
      this.resize(group.next, spec);
    } else {
      if (group.next !== undefined) this.retire(group.next);
      this.log.info('rolling out a new revision', { function: spec.key, revision: spec.revision });
      group.next = this.startRevision(spec);
    }
    this.notify(spec.key);
  }

  async remove(key: string): Promise<void> {
    const group = this.groups.get(key);
    if (group === undefined) return;
    this.groups.delete(key);
    this.notify(key);
    await Promise.all([this.retire(group.current), group.next && this.retire(group.next)]);
  }

  status(key: string): ReplicaSetStatus | undefined {
    const group = this.groups.get(key);
    if (group === undefined) return undefined;
    const revisions = group.next === undefined ? [group.current] : [group.current, group.next];
    const replicas = revisions.flatMap((r) => r.slots.map((s) => s.replica)).filter((r) => r !== undefined);
    const ready = replicas.filter((r) => r.state === 'ready' && r.port !== undefined);
    const newest = group.next ?? group.current;
    return {
      revision: newest.spec.revision,
      replicas: replicas.length,
      readyReplicas: ready.length,
      endpoints: ready.map((r) => ({ id: r.id, host: '127.0.0.1', port: r.port as number })),
      problem: this.problemOf(newest),
      problemIsTerminal: this.loadFailure(newest) !== undefined,
    };
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const groups = [...this.groups.values()];
    this.groups.clear();
    await Promise.all(groups.flatMap((g) => [this.retire(g.current), g.next && this.retire(g.next)]));
  }

  // LocalListeners: the gateway refuses callbacks to any port a replica or pool process listens on.
  ports(): number[] {
    const replicas = [...this.live].flatMap((r) => (r.port === undefined ? [] : [r.port]));
    return [...replicas, ...this.pools.ports()];
  }

  // ReplicaListener
  changed(replica: ReplicaHandle): void {
    this.starts.changed(replica);
    const found = this.find(replica);
    if (found === undefined) return;
    const [key, group] = found;
    if (replica.state === 'failed') {
      this.log.error('handler failed to load', {
        function: key,
        replica: replica.id,
        reason: replica.reason,
      });
    }
    this.promoteIfReady(group);
    this.notify(key);
  }

  exited(replica: ReplicaHandle, code: number | null, signal: NodeJS.Signals | null): void {
    this.live.delete(replica);
    this.starts.changed(replica);
    const found = this.find(replica);
    if (found === undefined || this.shuttingDown) return;
    const [key, group] = found;
    const slot = [group.current, group.next]
      .flatMap((r) => r?.slots ?? [])
      .find((s) => s.replica === replica);
    if (slot === undefined) return;
    const revision = group.next?.slots.includes(slot) ? group.next : group.current;
    slot.replica = undefined;
    slot.crashes = crashesAfter(slot.crashes, replica.readySince, this.clock.now(), this.backoff);
    const delay = restartDelay(slot.crashes, this.backoff);
    slot.nextRestartAt = this.clock.now() + delay;
    this.log.warn('replica exited; restarting', {
      function: key,
      replica: replica.id,
      code,
      signal,
      reason: replica.reason,
      crashes: slot.crashes,
      restartInMs: delay,
    });
    slot.restartTimer = this.clock.setTimeout(() => {
      slot.restartTimer = undefined;
      slot.nextRestartAt = undefined;
      slot.replica = this.spawnReplica(revision.spec);
      this.notify(key);
    }, delay);
    this.notify(key);
  }

  private startRevision(spec: ReplicaSetSpec): Revision {
    const revision: Revision = { spec, slots: [] };
    this.resize(revision, spec);
    return revision;
  }

  private resize(revision: Revision, spec: ReplicaSetSpec): void {
    revision.spec = spec;
    while (revision.slots.length < spec.replicas) {
      revision.slots.push({
        replica: this.spawnReplica(spec),
        crashes: 0,
        restartTimer: undefined,
        nextRestartAt: undefined,
      });
    }
    const surplus = revision.slots.splice(spec.replicas);
    for (const slot of surplus) void this.stopSlot(slot, spec.stopGraceMs);
  }

  private spawnReplica(spec: ReplicaSetSpec): ReplicaHandle {
    const id = `${spec.key}#${spec.revision.slice(0, 8)}-${++this.sequence}`;
    if (spec.command !== undefined) {
      // Someone else's program: no pool (it is not runtime-node), no IPC, told its port in $PORT.
      const replica = new CommandReplica(
        id,
        { ...spec.command, env: spec.env },
        freeLoopbackPort,
        this.spawnCommandFn,
        this.readinessCheck,
        this,
        this.clock,
      );
      replica.routeOutput((text) => this.logBook.record(spec.key, id, text));
      this.live.add(replica);
      this.starts.started(replica, 'process');
      return replica;
    }
    // A warm pool process of its runtime, when one is ready, saves starting one: it only loads the code.
    const python = spec.python === true;
    const member = this.pools.forRuntime(python).take();
    const start =
      member !== undefined
        ? { adopt: member, env: spec.env }
        : python
          ? { spawn: this.python.spawn, entry: this.python.entry, env: spec.env }
          : { spawn: this.spawnFn, entry: this.entry, env: spec.env };
    const replica = new Replica(
      id,
      start,
      this,
      this.clock,
      { host: this.stateHost, scope: spec.state },
      spec.publisher === undefined ? undefined : { host: this.publishHost, from: spec.publisher },
    );
    replica.routeOutput((text) => this.logBook.record(spec.key, id, text));
    this.live.add(replica);
    this.starts.started(replica, member === undefined ? 'process' : 'pool');
    return replica;
  }

  private promoteIfReady(group: Group): void {
    const next = group.next;
    if (next === undefined || !next.slots.every((s) => s.replica?.state === 'ready')) return;
    const old = group.current;
    group.current = next;
    group.next = undefined;
    this.log.info('new revision is ready; retiring the old one', { revision: next.spec.revision });
    void this.retire(old);
  }

  private retire(revision: Revision): Promise<void> {
    return Promise.all(revision.slots.map((slot) => this.stopSlot(slot, revision.spec.stopGraceMs))).then(
      () => {},
    );
  }

  private async stopSlot(slot: Slot, graceMs: number): Promise<void> {
    if (slot.restartTimer !== undefined) this.clock.clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    const replica = slot.replica;
    slot.replica = undefined;
    await replica?.stop(graceMs);
    if (replica !== undefined) this.live.delete(replica);
  }

  private loadFailure(revision: Revision): string | undefined {
    for (const slot of revision.slots) {
      if (slot.replica?.state === 'failed') return `handler failed to load: ${slot.replica.reason}`;
    }
    return undefined;
  }

  private problemOf(revision: Revision): string | undefined {
    const failure = this.loadFailure(revision);
    if (failure !== undefined) return failure;
    const waiting = revision.slots.find((s) => s.nextRestartAt !== undefined);
    if (waiting?.nextRestartAt !== undefined) {
      const inMs = Math.max(0, waiting.nextRestartAt - this.clock.now());
      return `replica crashed ${waiting.crashes} time(s) in a row; restarting in ${inMs} ms`;
    }
    return undefined;
  }

  private find(replica: ReplicaHandle): [string, Group] | undefined {
    for (const [key, group] of this.groups) {
      for (const revision of [group.current, group.next]) {
        if (revision?.slots.some((s) => s.replica === replica)) return [key, group];
      }
    }
    return undefined;
  }

  private notify(key: string): void {
    for (const listener of this.listeners) listener(key);
  }
}
