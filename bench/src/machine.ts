import os from 'node:os';

/** The machine a result was measured on, stored beside the numbers so they can be compared fairly. */
export interface Machine {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemoryBytes: number;
  readonly platform: string;
  readonly kernel: string;
  readonly node: string;
  readonly date: string;
  /** 1-minute load average when the run began: well above 0, and something else was competing for the CPUs. */
  readonly loadAverage1m: number;
}

export function describeMachine(now: Date): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    totalMemoryBytes: os.totalmem(),
    platform: os.platform(),
    kernel: os.release(),
    node: process.version,
    date: now.toISOString(),
    loadAverage1m: os.loadavg()[0] ?? 0,
  };
}

/** One line naming the machine, for the top of a report; it warns when the machine was already busy. */
export function machineLine(machine: Machine): string {
  const memory = `${(machine.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB`;
  const load = machine.loadAverage1m.toFixed(2);
  const busy = machine.loadAverage1m >= 0.5 ? ' (busy before the run started: expect noisy numbers)' : '';
  return `${machine.cpuModel} × ${machine.cpus}, ${memory}, node ${machine.node}, load average ${load}${busy}`;
}
