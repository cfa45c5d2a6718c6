import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** The PIDs of a process's children, from /proc (Linux). */
export function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

/** Whether a process runs runtime-python (its command line names run.py); false once it is gone. */
export function isPython(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .some((arg) => arg.endsWith('run.py'));
  } catch {
    return false;
  }
}

/**
 * The TCP ports a process listens on: its socket inodes (from /proc/PID/fd) matched against the
 * listening sockets of /proc/net/tcp and tcp6. A process that has gone listens on none.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match?.[1] !== undefined) inodes.add(match[1]);
      } catch {
        // closed while listed
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT" in hex; state 0A is LISTEN; the inode is the tenth field.
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue;
      ports.push(Number.parseInt((fields[1] ?? '').split(':')[1] ?? '', 16));
    }
  }
  return ports;
}
