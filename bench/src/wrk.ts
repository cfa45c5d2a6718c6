import { type Children, exited } from './processes.js';
import { type WrkResult, parseWrkOutput } from './wrk-output.js';

const INSTALL = 'command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)';

/** Installs Debian's wrk when it is missing (the bench runs as root in its container). */
export async function ensureWrk(children: Children, timeoutMs: number): Promise<void> {
  const shell = children.spawn('sh', ['-c', INSTALL], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    // apt's chatter goes to stderr, keeping stdout for the tables.
    stdio: ['ignore', 2, 2],
  });
  const timer = setTimeout(() => void children.stop(shell), timeoutMs);
  const { code, signal, error } = await exited(shell);
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`could not install wrk (${INSTALL}): code ${code}, signal ${signal}`, { cause: error });
  }
}

export interface WrkLoad {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
}

/** Only the loopback is ever loaded. */
export function wrkArgs(load: WrkLoad): string[] {
  const url = new URL(load.url);
  if (url.hostname !== '127.0.0.1')
    throw new Error(`refusing to send load anywhere but 127.0.0.1: ${load.url}`);
  return [`-t${load.threads}`, `-c${load.connections}`, `-d${load.durationS}s`, '--latency', load.url];
}

/** Runs wrk to completion (killed if it overruns by 15 s) and parses its report. */
export async function runWrk(children: Children, load: WrkLoad): Promise<WrkResult> {
  const wrk = children.spawn('wrk', wrkArgs(load), { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  wrk.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const timer = setTimeout(() => void children.stop(wrk), (load.durationS + 15) * 1000);
  const { code, signal, error } = await exited(wrk);
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`wrk ${wrkArgs(load).join(' ')} failed: code ${code}, signal ${signal}`, {
      cause: error,
    });
  }
  const result = parseWrkOutput(output);
  if (result.non2xx > 0 || result.socketErrors > 0) {
    throw new Error(
      `wrk against ${load.url}: ${result.non2xx} non-2xx responses, ${result.socketErrors} socket errors`,
    );
  }
  return result;
}
