// `npm run bench -- <name>`: runs one benchmark, prints its tables and writes bench/results/<name>.json.
import { asyncBenchmark } from './async-bench.js';
import type { Benchmark } from './benchmark.js';
import { coldstartBenchmark } from './coldstart-bench.js';
import { controllerBenchmark } from './controller-bench.js';
import { eventsBenchmark } from './events-bench.js';
import { gatewayBenchmark } from './gateway-bench.js';
import { describeMachine, machineLine } from './machine.js';
import { Children } from './processes.js';
import { writeResult } from './results.js';
import { scaleBenchmark } from './scale-bench.js';
import { spawnBenchmark } from './spawn-bench.js';

const BENCHMARKS: readonly Benchmark[] = [
  gatewayBenchmark,
  spawnBenchmark,
  controllerBenchmark,
  coldstartBenchmark,
  asyncBenchmark,
  scaleBenchmark,
  eventsBenchmark,
];

function usage(): string {
  const width = Math.max(...BENCHMARKS.map((b) => b.name.length));
  const lines = BENCHMARKS.map((b) => `  ${b.name.padEnd(width)}  ${b.description}`);
  return ['usage: npm run bench -- <name>', '', 'benchmarks:', ...lines, ''].join('\n');
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause === undefined ? '' : `\ncause: ${String(error.cause)}`;
  return `${error.stack ?? error.message}${cause}`;
}

async function main(args: readonly string[]): Promise<number> {
  const benchmark = BENCHMARKS.find((b) => b.name === args[0]);
  if (benchmark === undefined || args.length !== 1) {
    const unknown = args[0] === undefined ? '' : `unknown benchmark ${JSON.stringify(args[0])}\n\n`;
    process.stderr.write(`${unknown}${usage()}`);
    return 2;
  }
  const machine = describeMachine(new Date());
  const children = new Children();
  // Whatever ends this process, no server or load generator it started may outlive it.
  let stopping = false;
  const stop = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${reason}: stopping every child process\n`);
    void children.stopAll().finally(() => process.exit(code));
  };
  process.once('exit', () => children.killAllNow());
  process.once('SIGINT', () => stop('SIGINT', 130));
  process.once('SIGTERM', () => stop('SIGTERM', 143));
  const limit = setTimeout(() => stop(`over the ${benchmark.limitMs / 1000} s limit`, 1), benchmark.limitMs);
  try {
    const report = await benchmark.run(children);
    const file = await writeResult(benchmark.name, { benchmark: benchmark.name, machine, ...report.result });
    process.stdout.write(`${benchmark.name} on ${machineLine(machine)}\n\n${report.text}\n\nwrote ${file}\n`);
    return 0;
  } catch (error) {
    // Once stopping, a failure is only the echo of the children just killed.
    if (!stopping) process.stderr.write(`${benchmark.name} failed: ${describeError(error)}\n`);
    return 1;
  } finally {
    clearTimeout(limit);
    await children.stopAll();
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
