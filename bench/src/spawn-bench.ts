import { freePort } from '@nimbus/testkit';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { writeHelloFunction } from './hello-function.js';
import { firstOk, probe } from './http-probe.js';
import { residentMib } from './proc-stats.js';
import type { Children } from './processes.js';
import { type ServerCommand, barePython, bareServer, pythonReplica, runtimeReplica } from './servers.js';
import { SPAWN_TARGETS, type SpawnSummary, summarizeSpawn } from './spawn-summary.js';
import { percentile } from './stats.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

const RUNS = 20;
const POLL_INTERVAL_MS = 2;
/** A cold start slower than this is a failure, not a sample. */
const START_DEADLINE_MS = 5_000;

/** Requests a server answers after its first 200, before its resident memory is read. */
const WARM_REQUESTS = 20;

/**
 * Milliseconds from just before spawn() to the first 200 of `GET path`, on a port chosen
 * beforehand; the server is then killed and reaped before this returns.
 */
export async function coldStart(
  children: Children,
  command: (port: number) => ServerCommand,
  path: string,
): Promise<number> {
  return (await coldStartSample(children, command, path, false)).ms;
}

/**
 * A cold start as {@link coldStart} measures it, and with `density` the server's resident
 * memory once it has answered WARM_REQUESTS more and sits idle: what one more replica costs a node.
 */
export async function coldStartSample(
  children: Children,
  command: (port: number) => ServerCommand,
  path: string,
  density = true,
): Promise<{ ms: number; rssMib: number }> {
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
    const ms = answered - started;
    if (!density) return { ms, rssMib: Number.NaN };
    for (let i = 0; i < WARM_REQUESTS; i++) {
      const reply = await probe(`http://127.0.0.1:${port}${path}`, START_DEADLINE_MS);
      if (reply.status !== 200) throw new Error(`warm request ${i + 1} answered ${reply.status}`);
    }
    return { ms, rssMib: await residentMib(child.pid as number) };
  } finally {
    await children.stop(child);
  }
}

async function run(children: Children): Promise<BenchReport> {
  const fn = await writeHelloFunction();
  const series = {
    runtime: { ms: [] as number[], rss: [] as number[] },
    baseline: { ms: [] as number[], rss: [] as number[] },
    python: { ms: [] as number[], rss: [] as number[] },
    pythonBaseline: { ms: [] as number[], rss: [] as number[] },
  };
  const sample = async (
    into: { ms: number[]; rss: number[] },
    command: (port: number) => ServerCommand,
    path: string,
  ) => {
    const { ms, rssMib } = await coldStartSample(children, command, path);
    into.ms.push(ms);
    into.rss.push(rssMib);
  };
  try {
    // Interleaved, so a drift in machine load touches every series alike.
    for (let i = 0; i < RUNS; i++) {
      progress(`cold start ${i + 1}/${RUNS}`);
      await sample(series.runtime, (port) => runtimeReplica(fn.dir, port), '/?name=Ada');
      await sample(series.baseline, bareServer, '/');
      await sample(series.python, (port) => pythonReplica(fn.dir, port), '/?name=Ada');
      await sample(series.pythonBaseline, barePython, '/');
    }
  } finally {
    await children.stopAll();
    await fn.remove();
  }
  const { runtime, baseline, python: py, pythonBaseline } = series;
  const summary = summarizeSpawn(runtime.ms, baseline.ms);
  const python = summarizeSpawn(py.ms, pythonBaseline.ms);
  const pythonPass = python.ratio_to_baseline <= SPAWN_TARGETS.maxPythonRatio;
  const density = summarizeDensity(runtime.rss, baseline.rss, py.rss, pythonBaseline.rss);
  return {
    text: `${render(RUNS, summary, python, pythonPass)}\n\n${renderDensity(density)}`,
    result: {
      ...summary,
      targets: SPAWN_TARGETS,
      runtimeMs: runtime.ms,
      baselineMs: baseline.ms,
      python: { ...python, pass_ratio: pythonPass, runtimeMs: py.ms, baselineMs: pythonBaseline.ms },
      density: {
        ...density,
        warm_requests: WARM_REQUESTS,
        runtime_rss_mib: runtime.rss,
        baseline_rss_mib: baseline.rss,
        python_rss_mib: py.rss,
        python_baseline_rss_mib: pythonBaseline.rss,
      },
    },
  };
}

interface Density {
  runtime_p50_mib: number;
  baseline_p50_mib: number;
  ratio: number;
  python_p50_mib: number;
  python_baseline_p50_mib: number;
  python_ratio: number;
  pass: boolean;
  python_pass: boolean;
}

function summarizeDensity(
  runtime: number[],
  baseline: number[],
  py: number[],
  pyBaseline: number[],
): Density {
  const p50 = (values: number[]) => percentile(values, 50);
  const ratio = p50(runtime) / p50(baseline);
  const pythonRatio = p50(py) / p50(pyBaseline);
  return {
    runtime_p50_mib: p50(runtime),
    baseline_p50_mib: p50(baseline),
    ratio,
    python_p50_mib: p50(py),
    python_baseline_p50_mib: p50(pyBaseline),
    python_ratio: pythonRatio,
    pass: ratio <= SPAWN_TARGETS.maxRssRatio,
    python_pass: pythonRatio <= SPAWN_TARGETS.maxRssRatio,
  };
}

function renderDensity(d: Density): string {
  return formatTable(VERDICT_COLUMNS, [
    [
      `idle RSS after ${WARM_REQUESTS} requests: runtime-node / bare node (MiB ${formatNumber(d.runtime_p50_mib, 1)} / ${formatNumber(d.baseline_p50_mib, 1)})`,
      formatNumber(d.ratio, 2),
      `≤ ${SPAWN_TARGETS.maxRssRatio}`,
      verdict(d.pass),
    ],
    [
      `idle RSS: runtime-python / bare python (MiB ${formatNumber(d.python_p50_mib, 1)} / ${formatNumber(d.python_baseline_p50_mib, 1)})`,
      formatNumber(d.python_ratio, 2),
      `≤ ${SPAWN_TARGETS.maxRssRatio}`,
      verdict(d.python_pass),
    ],
  ]);
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
