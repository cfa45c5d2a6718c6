import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Children, cpuProfileFlags, stopGently } from '../processes.js';

const LOCAL_MAIN = fileURLToPath(import.meta.resolve('@nimbus/local/main'));
const KEPT_LINES = 40;

/** Local mode serving a functions folder, a child of the bench: the gateway, its source readers and the replicas. */
export interface LocalGateway {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** The last warnings and errors it logged, for a failure's message. */
  complaints(): string;
  /** The first line it logs from now on that `match` takes, parsed; rejects after `timeoutMs`. */
  logged(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** Stops it by PID (its replicas leave when their IPC channel closes) and removes its state. */
  stop(): Promise<void>;
}

/** One JSON line of local mode's log. */
export interface LogLine {
  readonly level?: string;
  /** ISO 8601, with milliseconds. */
  readonly time?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/**
 * Starts `npm start`'s program on a free loopback port with `env` added, and waits (bounded) for
 * its `gateway listening` line. Its output is read all along, so a full pipe never stalls it.
 */
export async function startLocalGateway(
  children: Children,
  functionsDir: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<LocalGateway> {
  const stateDir = await mkdtemp(join(tmpdir(), 'nimbus-bench-state-'));
  const child = children.spawn(process.execPath, [...cpuProfileFlags(), LOCAL_MAIN, functionsDir], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      NIMBUS_STATE_DIR: stateDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // NIMBUS_BENCH_GATEWAY_LOG=<file>: every line local mode writes, for a look at what it did meanwhile.
  const logFile = process.env.NIMBUS_BENCH_GATEWAY_LOG;
  const log = logFile === undefined || logFile === '' ? undefined : createWriteStream(logFile);
  child.once('exit', () => log?.end());
  const kept: string[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  const keep = (line: string) => {
    kept.push(line.slice(0, 500));
    if (kept.length > KEPT_LINES) kept.shift();
  };
  child.stderr?.on('data', (chunk: Buffer) => keep(chunk.toString()));
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`local mode did not listen within ${timeoutMs} ms:\n${kept.join('\n')}`)),
      timeoutMs,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local mode exited (${code}):\n${kept.join('\n')}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log?.write(`${line}\n`);
      let parsed: LogLine & { url?: string } = {};
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        keep(line);
        return;
      }
      for (const watch of watchers) watch(parsed);
      if (parsed.level === 'warn' || parsed.level === 'error') keep(line);
      if (parsed.msg === 'gateway listening' && parsed.url !== undefined) {
        clearTimeout(timer);
        resolve(parsed.url);
      }
    });
  });
  let url: string;
  try {
    url = await listening;
  } catch (error) {
    await children.stop(child);
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  return {
    child,
    url,
    port: Number(new URL(url).port),
    complaints: () => kept.join('\n'),
    logged: (match, ms) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`local mode logged no such line within ${ms} ms`));
        }, ms);
        const watch = (line: LogLine) => {
          if (!match(line)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(line);
        };
        watchers.add(watch);
      }),
    stop: async () => {
      // NIMBUS_BENCH_CPU_PROF: the gateway's profile is written only when it exits by itself.
      if (cpuProfileFlags().length > 0) await stopGently(child);
      await children.stop(child);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
