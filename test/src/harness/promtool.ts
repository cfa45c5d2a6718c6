import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { goModuleBinary } from '../../node/harness/go-build.js';
import type { Progress } from '../../node/harness/host.js';

const run = promisify(execFile);

const MODULE_DIR = fileURLToPath(new URL('../../../promtool/', import.meta.url));

/**
 * Prometheus's own checker, pinned by test/promtool/go.mod and built from source once per
 * machine; the root hook builds it ahead of every suite. The chart's alerts and dashboard are
 * checked by the parser and rule evaluator Prometheus itself runs, not by a look-alike.
 */
export function promtoolBinary(progress: Progress): Promise<string> {
  return goModuleBinary({
    name: 'promtool',
    moduleDir: MODULE_DIR,
    versionOf: 'github.com/prometheus/prometheus',
    pkg: 'github.com/prometheus/prometheus/cmd/promtool',
    files: ['go.mod', 'go.sum'],
    expected: 'about 5 minutes on 2 cores',
    progress,
  });
}

/** What one promtool command printed, and whether it passed (exit 0). */
export interface PromtoolResult {
  ok: boolean;
  output: string;
}

/** Runs `promtool <args>`; a failing check is a result, not an exception, so a test can show its output. */
export async function promtool(args: readonly string[]): Promise<PromtoolResult> {
  const binary = await promtoolBinary(() => {});
  try {
    const { stdout, stderr } = await run(binary, [...args], { timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? failed.message}` };
  }
}
