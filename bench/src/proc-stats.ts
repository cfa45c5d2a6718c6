import { readFile } from 'node:fs/promises';

/** What /proc says of a process the bench started: memory and CPU time. Linux only. */

async function statusKib(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
}

/** Resident memory now, in MiB. */
export async function residentMib(pid: number): Promise<number> {
  return (await statusKib(pid, 'VmRSS')) / 1024;
}

/** The highest resident memory since the process started (VmHWM), in MiB. */
export async function peakRssMib(pid: number): Promise<number> {
  return (await statusKib(pid, 'VmHWM')) / 1024;
}

/** CPU seconds a process has used, user and system, from /proc (clock ticks of 10 ms). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The machine's CPU time so far, busy and in all, in clock ticks summed over every core (/proc/stat). */
export async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  // idle and iowait are the 4th and 5th fields.
  return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
}

/** The share of the machine's CPU (every core) that was busy between two readings of machineTicks. */
export function busyShare(
  before: { busy: number; total: number },
  after: { busy: number; total: number },
): number {
  return (after.busy - before.busy) / (after.total - before.total);
}
