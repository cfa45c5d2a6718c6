import type { ChildProcess } from 'node:child_process';
import type { Clock } from '@nimbus/api';
import type { Publisher } from '@nimbus/gateway';
import { type LineSink, outputTapOf } from './output-tap.js';
import type { PublishHost } from './publish-host.js';
import type { Spawn } from './spawn.js';
import type { StateHost, StateScope } from './state-host.js';
import type { PoolMember } from './warm-pool.js';

export type ReplicaState = 'starting' | 'ready' | 'failed' | 'stopping' | 'exited';

/** What a runtime-node replica says over its IPC channel. */
type RuntimeMessage =
  | { type: 'listening'; port: number }
  | { type: 'ready' }
  | { type: 'load-failed'; reason: string }
  /** A pool process refused the function's settings: it serves nothing. */
  | { type: 'specialise-refused'; reason: string }
  /** A ctx.state call, answered by the supervisor's StateHost. */
  | { type: 'state'; id: number }
  /** A ctx.publish, answered by the supervisor's PublishHost. */
  | { type: 'publish'; id: number };

/** One replica process as the process backend sees it, whatever kind of program it runs. */
export interface ReplicaHandle {
  readonly id: string;
  readonly state: ReplicaState;
  /** Where it serves; known once it listens (runtime-node) or from the start (a command). */
  readonly port: number | undefined;
  /** Why it is not ready (a handler's load error, a failing readiness check). */
  readonly reason: string | undefined;
  readonly readySince: number | undefined;
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
  /** Its output lines, from now on, also go to `sink` (its function's log book). */
  routeOutput(sink: LineSink): void;
}

export interface ReplicaListener {
  changed(replica: ReplicaHandle): void;
  exited(replica: ReplicaHandle, code: number | null, signal: NodeJS.Signals | null): void;
}

/** One runtime-node child process, and what it has told us about itself. */
export class Replica implements ReplicaHandle {
  state: ReplicaState = 'starting';
  port: number | undefined;
  /** Why it is not ready: the handler's load error. */
  reason: string | undefined;
  readySince: number | undefined;
  private readonly child: ChildProcess;
  private readonly exit: Promise<void>;

  /**
   * A replica of its own process (`spawn`), or a warm pool process taken over: it is told the
   * function's settings over IPC and loads the handler, and says ready or load-failed as a
   * process started for the function does.
   */
  constructor(
    readonly id: string,
    start:
      | { spawn: Spawn; entry: string; env: Record<string, string> }
      | { adopt: PoolMember; env: Record<string, string> },
    private readonly listener: ReplicaListener,
    private readonly clock: Clock,
    /** Where its ctx.state calls go: the supervisor's store, scoped to its function (none: state is off). */
    private readonly stateAccess?: { host: StateHost; scope: StateScope | undefined },
    /** Where its ctx.publish calls go: the supervisor's PublishHost, as its function. */
    private readonly publishAccess?: { host: PublishHost; from: Publisher },
  ) {
    if ('adopt' in start) {
      this.child = start.adopt.child;
      this.port = start.adopt.port;
      this.child.send({ type: 'specialise', env: start.env });
    } else {
      this.child = start.spawn(start.entry, start.env);
    }
    this.child.on('message', (message: RuntimeMessage) => this.heard(message));
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        const wasStopping = this.state === 'stopping';
        this.state = 'exited';
        if (!wasStopping) this.listener.exited(this, code, signal);
        resolve();
      });
    });
    // A spawn failure (for example a missing node binary) surfaces as an exit too.
    this.child.once('error', (err) => {
      this.reason = `cannot start the runtime: ${err.message}`;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  routeOutput(sink: LineSink): void {
    outputTapOf(this.child)?.route(sink);
  }

  private heard(message: RuntimeMessage): void {
    // Answered while stopping too: the calls in flight it drains may use state.
    if (message.type === 'state') {
      this.answerState(message);
      return;
    }
    if (message.type === 'publish') {
      if (this.publishAccess !== undefined)
        this.answer(this.publishAccess.host.handle(this.publishAccess.from, message));
      return;
    }
    if (this.state === 'stopping' || this.state === 'exited') return;
    switch (message.type) {
      case 'listening':
        this.port = message.port;
        return;
      case 'ready':
        this.state = 'ready';
        this.readySince = this.clock.now();
        this.reason = undefined;
        break;
      case 'load-failed':
      case 'specialise-refused':
        this.state = 'failed';
        this.reason = message.reason;
        break;
      default:
        return;
    }
    this.listener.changed(this);
  }

  private answerState(message: RuntimeMessage): void {
    if (this.stateAccess === undefined) return;
    this.answer(this.stateAccess.host.handle(this.stateAccess.scope, message));
  }

  private answer(reply: Promise<object | undefined>): void {
    void reply.then((answer) => {
      if (answer === undefined || !this.child.connected) return;
      // A child that is gone by now cannot be answered; its call has failed already.
      this.child.send(answer, (error) => error);
    });
  }

  /** SIGTERM lets the runtime finish its in-flight work; SIGKILL follows after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'exited') return;
    this.state = 'stopping';
    this.child.kill('SIGTERM');
    const timer = this.clock.setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exit;
    this.clock.clearTimeout(timer);
  }
}
