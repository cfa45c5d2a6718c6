import type { ChildProcess } from 'node:child_process';
import type { Clock, Readiness } from '@nimbus/api';
import { type LineSink, outputTapOf } from './output-tap.js';
import type { ReplicaHandle, ReplicaListener, ReplicaState } from './replica.js';
import type { SpawnCommand } from './spawn.js';

/** How a command replica's readiness is checked (readiness-check.ts in production). */
export type ReadinessCheck = (
  host: string,
  port: number,
  readiness: Readiness | undefined,
  timeoutMs: number,
) => Promise<boolean>;

export interface CommandLaunch {
  argv: readonly string[];
  /** The folder it runs in: the Function's source.path. */
  cwd: string;
  /** Its environment; PORT is added here. */
  env: Record<string, string>;
  readiness: Readiness | undefined;
}

/** While it starts, checked this often, so a call held at zero goes the moment it can. */
export const STARTING_CHECK_MS = 25;
/** Once ready, checked this often; this many misses in a row take it out of rotation. */
export const READY_CHECK_MS = 1000;
export const MISSES_TO_UNREADY = 3;
const CHECK_TIMEOUT_MS = 1000;

/**
 * A container function's replica in local mode: its command as a child process, told its port
 * in $PORT (a free loopback port), and ready when its readiness check passes, as a pod's probe
 * would say. It knows nothing of Nimbus: no IPC, no state, no specialisation.
 */
export class CommandReplica implements ReplicaHandle {
  state: ReplicaState = 'starting';
  port: number | undefined;
  reason: string | undefined;
  readySince: number | undefined;
  private child: ChildProcess | undefined;
  private timer: unknown;
  private misses = 0;
  private sink: LineSink | undefined;
  private readonly exit: Promise<void>;
  private exited!: () => void;

  constructor(
    readonly id: string,
    private readonly launch: CommandLaunch,
    /** A port for it to serve on (a free loopback port). */
    portFor: () => Promise<number>,
    private readonly spawnCommand: SpawnCommand,
    private readonly check: ReadinessCheck,
    private readonly listener: ReplicaListener,
    private readonly clock: Clock,
  ) {
    this.exit = new Promise((resolve) => {
      this.exited = resolve;
    });
    portFor().then(
      (port) => this.start(port),
      (err: Error) => this.ended(null, null, `no free port for it: ${err.message}`),
    );
  }

  private start(port: number): void {
    // Stopped before it had a port: it never runs.
    if (this.state === 'stopping') {
      this.ended(null, null);
      return;
    }
    this.port = port;
    const { argv, cwd, env } = this.launch;
    const child = this.spawnCommand(argv, cwd, { ...env, PORT: String(port) });
    this.child = child;
    if (this.sink !== undefined) outputTapOf(child)?.route(this.sink);
    // A program that cannot start (not found, not executable) surfaces as an exit too.
    child.once('error', (err) => {
      const reason = `cannot start ${argv[0]}: ${err.message}`;
      // Never started (no pid): no exit event may follow, so this is its end.
      if (child.pid === undefined) this.ended(null, null, reason);
      else this.reason = reason;
    });
    child.once('exit', (code, signal) => this.ended(code, signal));
    this.schedule(STARTING_CHECK_MS);
  }

  private ended(code: number | null, signal: NodeJS.Signals | null, reason?: string): void {
    if (this.state === 'exited') return;
    this.clock.clearTimeout(this.timer);
    if (reason !== undefined) this.reason = reason;
    const wasStopping = this.state === 'stopping';
    this.state = 'exited';
    if (!wasStopping) this.listener.exited(this, code, signal);
    this.exited();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  routeOutput(sink: LineSink): void {
    this.sink = sink;
    if (this.child !== undefined) outputTapOf(this.child)?.route(sink);
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => void this.probe(), ms);
  }

  private gone(): boolean {
    return this.state === 'stopping' || this.state === 'exited';
  }

  private async probe(): Promise<void> {
    if (this.gone()) return;
    const ok = await this.check('127.0.0.1', this.port as number, this.launch.readiness, CHECK_TIMEOUT_MS);
    // It may have been stopped, or have exited, while the check was out.
    if (this.gone()) return;
    if (ok) {
      this.misses = 0;
      if (this.state !== 'ready') {
        this.state = 'ready';
        this.readySince = this.clock.now();
        this.reason = undefined;
        this.listener.changed(this);
      }
    } else if (this.state === 'ready' && ++this.misses >= MISSES_TO_UNREADY) {
      this.state = 'starting';
      this.reason = `its readiness check failed ${this.misses} times in a row`;
      this.listener.changed(this);
    }
    this.schedule(this.state === 'ready' ? READY_CHECK_MS : STARTING_CHECK_MS);
  }

  /** SIGTERM: its server finishes what it has, if it knows how; SIGKILL follows after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'exited') return;
    if (this.state !== 'stopping') {
      this.state = 'stopping';
      this.clock.clearTimeout(this.timer);
      const child = this.child;
      if (child !== undefined) {
        child.kill('SIGTERM');
        const timer = this.clock.setTimeout(() => child.kill('SIGKILL'), graceMs);
        void this.exit.then(() => this.clock.clearTimeout(timer));
      }
    }
    await this.exit;
  }
}
