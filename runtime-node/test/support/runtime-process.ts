import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonRuntimeEntryPath } from '@nimbus/runtime-python';
import { runtimeEntryPath } from '../../src/entry-path.js';
import type { SupervisorCommand, SupervisorMessage } from '../../src/supervisor-channel.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let bundled = false;

/**
 * Builds dist/runtime-node.cjs from the freshly compiled dist/src once per test run, so the
 * integration tests always exercise the bundle that `npm run bundle` would ship.
 */
export function ensureBundle(): void {
  if (bundled) return;
  execFileSync(process.execPath, [path.join(packageRoot, 'scripts/bundle.mjs')], { stdio: 'pipe' });
  bundled = true;
}

/** How to start a replica of one runtime. */
export interface Launcher {
  readonly command: string;
  readonly args: readonly string[];
  /** Runs before a spawn: the Node runtime's bundle is built from dist once per run. */
  readonly prepare?: () => void;
}

/** The bundled Node runtime: `node dist/runtime-node.cjs`. */
export const nodeLauncher: Launcher = {
  command: process.execPath,
  get args() {
    return [runtimeEntryPath()];
  },
  prepare: ensureBundle,
};

/** The Python runtime: `python3 runtime-python/run.py`, the first python3 on PATH. */
export const pythonLauncher: Launcher = {
  command: 'python3',
  get args() {
    return [pythonRuntimeEntryPath()];
  },
};

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A runtime replica spawned as local mode spawns one: an 'ipc' channel on fd 3 (Node's JSON
 * serialization), stdout and stderr piped. The bundled Node runtime unless a launcher says otherwise.
 */
export class RuntimeProcess {
  readonly messages: SupervisorMessage[] = [];
  readonly logLines: Record<string, unknown>[] = [];
  readonly exited: Promise<Exit>;
  private stdout = '';
  stderr = '';
  private exit: Exit | undefined;
  private readonly waiters: (() => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message) => {
      this.messages.push(message as SupervisorMessage);
      this.wake();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString('utf8');
      const lines = this.stdout.split('\n');
      this.stdout = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logLines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.logLines.push({ unparsed: line });
        }
      }
      this.wake();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  static spawn(env: Record<string, string>, launcher: Launcher = nodeLauncher): RuntimeProcess {
    launcher.prepare?.();
    const child = spawn(launcher.command, [...launcher.args], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    return new RuntimeProcess(child);
  }

  /** Spawns and waits for `listening` plus the handler's outcome (`ready` or `load-failed`). */
  static async start(
    env: Record<string, string>,
    timeoutMs = 5_000,
    launcher: Launcher = nodeLauncher,
  ): Promise<RuntimeProcess> {
    const runtime = RuntimeProcess.spawn(env, launcher);
    try {
      await runtime.waitFor((m) => m.type === 'ready' || m.type === 'load-failed', timeoutMs);
    } catch (error) {
      runtime.kill();
      throw error;
    }
    return runtime;
  }

  /** Spawns a generic pool replica (NIMBUS_POOL=1) and waits for it to report its port. */
  static async startPool(
    env: Record<string, string> = {},
    timeoutMs = 5_000,
    launcher: Launcher = nodeLauncher,
  ): Promise<RuntimeProcess> {
    const runtime = RuntimeProcess.spawn({ NIMBUS_POOL: '1', ...env }, launcher);
    try {
      await runtime.waitFor((m) => m.type === 'listening', timeoutMs);
    } catch (error) {
      runtime.kill();
      throw error;
    }
    return runtime;
  }

  /** Sends a command over the IPC channel, as the local-mode supervisor does. */
  send(command: SupervisorCommand): void {
    this.child.send(command);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  get port(): number {
    const listening = this.messages.find((m) => m.type === 'listening');
    if (listening?.type !== 'listening') throw new Error('runtime has not reported listening');
    return listening.port;
  }

  /** Resolves with the first IPC message matching `predicate`; fails on exit or after `timeoutMs`. */
  waitFor(predicate: (message: SupervisorMessage) => boolean, timeoutMs = 5_000): Promise<SupervisorMessage> {
    return this.until(() => this.messages.find(predicate), timeoutMs, 'supervisor message');
  }

  /** Resolves with the first log line matching `predicate`. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = 5_000,
  ): Promise<Record<string, unknown>> {
    return this.until(() => this.logLines.find(predicate), timeoutMs, 'log line');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive && this.child.pid !== undefined) this.child.kill(signal);
  }

  /** Kills the process (by the pid this test spawned) and waits for it to be gone. */
  async stop(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
  }

  private until<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${what}; stderr: ${this.stderr}`));
      }, timeoutMs);
      const check = () => {
        const found = find();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (!this.alive) {
          done();
          reject(
            new Error(
              `runtime exited (${JSON.stringify(this.exit)}) before a ${what}; stderr: ${this.stderr}`,
            ),
          );
        }
      };
      const done = () => {
        clearTimeout(timer);
        const index = this.waiters.indexOf(check);
        if (index >= 0) this.waiters.splice(index, 1);
      };
      this.waiters.push(check);
      check();
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
