import type { ChildProcess } from 'node:child_process';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import type { Spawn } from './spawn.js';

/** A generic runtime process, listening and waiting to be told which function it serves. */
export interface PoolMember {
  readonly child: ChildProcess;
  readonly port: number;
}

interface Waiting {
  child: ChildProcess;
  port: number | undefined;
}

/** A member that crashes at start is replaced after this long, so a broken runtime cannot spin. */
const REFILL_AFTER_FAILURE_MS = 1000;

/**
 * Generic runtime processes of one language already started and listening (`NIMBUS_POOL=1`), so a
 * function at zero takes one over (specialisation: it loads the function's code) instead of
 * waiting for a process to start. Taking a member starts its replacement in the background.
 */
export class WarmPool {
  private readonly members = new Set<Waiting>();
  private started = false;
  private stopped = false;

  constructor(
    private readonly size: number,
    private readonly entry: string,
    private readonly env: Record<string, string>,
    private readonly spawnFn: Spawn,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Fills the pool; again is a no-op. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.refill();
  }

  /** Idle members that have said they listen. */
  get ready(): number {
    return [...this.members].filter((m) => m.port !== undefined).length;
  }

  /** The ports idle members listen on (callbacks must never reach them). */
  ports(): number[] {
    return [...this.members].flatMap((m) => (m.port === undefined ? [] : [m.port]));
  }

  /** A listening member, now the caller's; undefined when none is ready yet. */
  take(): PoolMember | undefined {
    for (const member of this.members) {
      if (member.port === undefined || !member.child.connected || member.child.exitCode !== null) continue;
      this.members.delete(member);
      member.child.removeAllListeners('message');
      member.child.removeAllListeners('exit');
      this.refill();
      return { child: member.child, port: member.port };
    }
    return undefined;
  }

  /** Stops the idle members, by PID. */
  async stop(): Promise<void> {
    this.stopped = true;
    const idle = [...this.members];
    this.members.clear();
    await Promise.all(
      idle.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.child.exitCode !== null || m.child.signalCode !== null) return resolve();
            m.child.once('exit', () => resolve());
            m.child.kill('SIGTERM');
          }),
      ),
    );
  }

  private refill(): void {
    while (this.started && !this.stopped && this.members.size < this.size) this.spawnOne();
  }

  private spawnOne(): void {
    const child = this.spawnFn(this.entry, { ...this.env, NIMBUS_POOL: '1', HOST: '127.0.0.1', PORT: '0' });
    const member: Waiting = { child, port: undefined };
    this.members.add(member);
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'listening' && typeof message.port === 'number') member.port = message.port;
    });
    child.once('exit', (code, signal) => {
      if (!this.members.delete(member) || this.stopped) return;
      this.log.warn('a warm pool process exited; replacing it', { code, signal });
      this.clock.setTimeout(() => this.refill(), REFILL_AFTER_FAILURE_MS);
    });
  }
}

/**
 * The warm pools of local mode, one per runtime with a pool mode. runtime-node's fills at start;
 * runtime-python's fills when the first Python function is applied, so a machine without Python
 * functions keeps no Python processes (nor needs python3).
 */
export class WarmPools {
  constructor(
    readonly node: WarmPool,
    readonly python: WarmPool,
  ) {}

  /** The pool a function of this kind starts from; a Python one is filled on first use. */
  forRuntime(python: boolean): WarmPool {
    if (!python) return this.node;
    this.python.start();
    return this.python;
  }

  ports(): number[] {
    return [...this.node.ports(), ...this.python.ports()];
  }

  async stop(): Promise<void> {
    await Promise.all([this.node.stop(), this.python.stop()]);
  }
}
