import type { Children } from './processes.js';

/** What a benchmark hands back: the tables to print and the numbers to store. */
export interface BenchReport {
  readonly text: string;
  readonly result: Readonly<Record<string, unknown>>;
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  /** A hard limit on the whole run; every child is killed when it strikes. */
  readonly limitMs: number;
  /** Starts its processes through `children`, which the caller stops whatever happens. */
  run(children: Children): Promise<BenchReport>;
}

/** Progress goes to stderr so stdout holds only the tables. */
export function progress(message: string): void {
  process.stderr.write(`… ${message}\n`);
}
