import { readFile, readdir } from 'node:fs/promises';

/** One line of /proc/<pid>/stat: its parent, and CPU ticks of its own and of children it has reaped. */
async function statOf(pid: number): Promise<{ ppid: number; own: number; reaped: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted from the last ')'.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const at = (i: number) => fields[i] ?? 0;
    return { ppid: at(1), own: at(11) + at(12), reaped: at(13) + at(14) };
  } catch {
    return undefined; // gone between the listing and the read
  }
}

/**
 * CPU seconds (user and system) of the process `root` and every live descendant, with what their
 * reaped children used: a server's worker processes (PostgreSQL backends, a gateway's replicas)
 * count with it. Linux only; ticks of 10 ms.
 */
export async function treeCpuSeconds(root: number): Promise<number> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = new Map<number, { ppid: number; own: number; reaped: number }>();
  await Promise.all(
    pids.map(async (pid) => {
      const stat = await statOf(pid);
      if (stat !== undefined) stats.set(pid, stat);
    }),
  );
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of stats) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let ticks = 0;
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    const stat = stats.get(pid);
    if (stat === undefined) continue;
    ticks += stat.own + stat.reaped;
    todo.push(...(children.get(pid) ?? []));
  }
  return ticks / 100;
}
