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
