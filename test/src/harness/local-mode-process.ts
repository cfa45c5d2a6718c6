import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ADMIN_KEY = 'test-admin-key-000000000000';
export const INVOKE_KEY = 'test-invoke-key-00000000000';

export interface LogLine {
  level?: string;
  msg?: string;
  [field: string]: unknown;
}

const MAIN = fileURLToPath(import.meta.resolve('@nimbus/local/main'));

/**
 * Local mode as a user runs it: its own process, on a free loopback port, reading a folder.
 * It collects the structured log lines the platform and its replicas write.
 */
export class LocalModeProcess {
  readonly logs: LogLine[] = [];
  url = '';
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly stateDir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ msg: line });
      }
    });
    child.stderr?.on('data', (c: Buffer) => this.logs.push({ level: 'stderr', msg: c.toString() }));
  }

  static async start(functionsDir: string, env: Record<string, string> = {}): Promise<LocalModeProcess> {
    const stateDir = await mkdtemp(join(tmpdir(), 'nimbus-state-'));
    const child = spawn(process.execPath, [MAIN, functionsDir], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: '0',
        NIMBUS_STATE_DIR: stateDir,
        NIMBUS_API_KEYS: `admin:${ADMIN_KEY},invoke:${INVOKE_KEY}`,
        NIMBUS_RESTART_BACKOFF_MS: '50',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const platform = new LocalModeProcess(child, stateDir);
    const listening = await platform.waitForLog((l) => l.msg === 'gateway listening', 15_000);
    platform.url = String(listening.url);
    return platform;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Waits for a log line, looking at the ones already written first. */
  async waitForLog(match: (line: LogLine) => boolean, ms: number): Promise<LogLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.logs.find(match);
      if (hit !== undefined) return hit;
      if (this.child.exitCode !== null) {
        throw new Error(`local mode exited (${this.child.exitCode}):\n${this.dump()}`);
      }
      if (Date.now() > deadline) throw new Error(`no such log line within ${ms} ms:\n${this.dump()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  dump(): string {
    return this.logs
      .slice(-30)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }

  /** SIGKILL: a crash, with nothing handed over or drained. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    await this.exited;
    await rm(this.stateDir, { recursive: true, force: true });
  }

  /** SIGTERM, as a user's Ctrl-C; SIGKILL if it has not exited within `ms`. */
  async stop(ms = 15_000): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(timer);
    await rm(this.stateDir, { recursive: true, force: true });
    return code;
  }
}

/** Whether a process with this PID is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
