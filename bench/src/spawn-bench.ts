import { freePort } from '@nimbus/testkit';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { writeHelloFunction } from './hello-function.js';
import { firstOk } from './http-probe.js';
import type { Children } from './processes.js';
import { type ServerCommand, bareServer, runtimeReplica } from './servers.js';
import { SPAWN_TARGETS, type SpawnSummary, summarizeSpawn } from './spawn-summary.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

const RUNS = 20;
const POLL_INTERVAL_MS = 2;
/** A cold start slower than this is a failure, not a sample. */
const START_DEADLINE_MS = 5_000;

/**
 * Milliseconds from just before spawn() to the first 200 of `GET path`, on a port chosen
 * beforehand; the server is then killed and reaped before this returns.
 */
export async function coldStart(children: Children, command: (port: number) => ServerCommand, path: string) {
  const port = await freePort();
  const { args, env } = command(port);
  const started = performance.now();
  const child = children.spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const answered = await firstOk(`http://127.0.0.1:${port}${path}`, {
      deadline: started + START_DEADLINE_MS,
      intervalMs: POLL_INTERVAL_MS,
      stillRunning: () => child.exitCode === null && child.signalCode === null,
    });
    return answered - started;
  } finally {
    await children.stop(child);
  }
}

async function run(children: Children): Promise<BenchReport> {
  const fn = await writeHelloFunction();
  const runtimeMs: number[] = [];
  const baselineMs: number[] = [];
  try {
    // Interleaved, so a drift in machine load touches both series alike.
    for (let i = 0; i < RUNS; i++) {
      progress(`cold start ${i + 1}/${RUNS}`);
      runtimeMs.push(await coldStart(children, (port) => runtimeReplica(fn.dir, port), '/?name=Ada'));
      baselineMs.push(await coldStart(children, bareServer, '/'));
    }
  } finally {
    await children.stopAll();
    await fn.remove();
  }
  const summary = summarizeSpawn(runtimeMs, baselineMs);
  return {
    text: render(RUNS, summary),
    result: { ...summary, targets: SPAWN_TARGETS, runtimeMs, baselineMs },
  };
}

function render(runs: number, s: SpawnSummary): string {
  const row = (label: string, p50: number, p90: number, max: number) => [
    label,
    String(runs),
    formatNumber(p50, 1),
    formatNumber(p90, 1),
    formatNumber(max, 1),
  ];
  const samples = formatTable(
    [
      { title: 'spawn → first 200', align: 'left' },
      { title: 'n', align: 'right' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p90 ms', align: 'right' },
      { title: 'max ms', align: 'right' },
    ],
    [
      row('runtime-node (hello)', s.p50_ms, s.p90_ms, s.max_ms),
      row('bare node:http (baseline)', s.baseline_p50_ms, s.baseline_p90_ms, s.baseline_max_ms),
    ],
  );
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ['runtime p50 / baseline p50', formatNumber(s.ratio_to_baseline, 2), '', ''],
    ['runtime p50 ms', formatNumber(s.p50_ms, 1), `≤ ${SPAWN_TARGETS.maxP50Ms}`, verdict(s.pass_p50_ms)],
  ]);
  return `${samples}\n\n${verdicts}`;
}

export const spawnBenchmark: Benchmark = {
  name: 'spawn',
  description: 'cold start of the bundled runtime with the hello handler, from spawn() to the first 200',
  limitMs: 90_000,
  run,
};
