import { freePort } from '@nimbus/testkit';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { writeHelloFunction } from './hello-function.js';
import { firstOk } from './http-probe.js';
import type { Children } from './processes.js';
import { type ServerCommand, barePython, bareServer, pythonReplica, runtimeReplica } from './servers.js';
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
  const { args, env, program } = command(port);
  const started = performance.now();
  const child = children.spawn(program ?? process.execPath, args, {
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
  const pythonMs: number[] = [];
  const pythonBaselineMs: number[] = [];
  try {
    // Interleaved, so a drift in machine load touches every series alike.
    for (let i = 0; i < RUNS; i++) {
      progress(`cold start ${i + 1}/${RUNS}`);
      runtimeMs.push(await coldStart(children, (port) => runtimeReplica(fn.dir, port), '/?name=Ada'));
      baselineMs.push(await coldStart(children, bareServer, '/'));
      pythonMs.push(await coldStart(children, (port) => pythonReplica(fn.dir, port), '/?name=Ada'));
      pythonBaselineMs.push(await coldStart(children, barePython, '/'));
    }
  } finally {
    await children.stopAll();
    await fn.remove();
  }
  const summary = summarizeSpawn(runtimeMs, baselineMs);
  const python = summarizeSpawn(pythonMs, pythonBaselineMs);
  const pythonPass = python.ratio_to_baseline <= SPAWN_TARGETS.maxPythonRatio;
  return {
    text: render(RUNS, summary, python, pythonPass),
    result: {
      ...summary,
      targets: SPAWN_TARGETS,
      runtimeMs,
      baselineMs,
      python: { ...python, pass_ratio: pythonPass, runtimeMs: pythonMs, baselineMs: pythonBaselineMs },
    },
  };
}

function render(runs: number, s: SpawnSummary, py: SpawnSummary, pyPass: boolean): string {
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
      row('runtime-python (hello)', py.p50_ms, py.p90_ms, py.max_ms),
      row('bare python http.server (baseline)', py.baseline_p50_ms, py.baseline_p90_ms, py.baseline_max_ms),
    ],
  );
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ['runtime p50 / baseline p50', formatNumber(s.ratio_to_baseline, 2), '', ''],
    ['runtime p50 ms', formatNumber(s.p50_ms, 1), `≤ ${SPAWN_TARGETS.maxP50Ms}`, verdict(s.pass_p50_ms)],
    [
      'runtime-python p50 / bare python p50',
      formatNumber(py.ratio_to_baseline, 2),
      `≤ ${SPAWN_TARGETS.maxPythonRatio}`,
      verdict(pyPass),
    ],
  ]);
  return `${samples}\n\n${verdicts}`;
}

export const spawnBenchmark: Benchmark = {
  name: 'spawn',
  description:
    'cold start of runtime-node and runtime-python with the hello handler, from spawn() to the first 200, beside bare servers',
  limitMs: 180_000,
  run,
};
