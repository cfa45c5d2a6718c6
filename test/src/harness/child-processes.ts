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
 * The TCP sockets a process listens on, with their local address: its socket inodes (from
 * /proc/PID/fd) matched against the listening sockets of /proc/net/tcp and tcp6. A process that
 * has gone listens on none.
 */
export function listeningSockets(pid: number): { address: string; port: number }[] {
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
  const sockets: { address: string; port: number }[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT" in hex; state 0A is LISTEN; the inode is the tenth field.
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue;
      const [address = '', port = ''] = (fields[1] ?? '').split(':');
      sockets.push({ address: addressOf(address), port: Number.parseInt(port, 16) });
    }
  }
  return sockets;
}

/** The TCP ports a process listens on (see listeningSockets). */
export function listeningPorts(pid: number): number[] {
  return listeningSockets(pid).map((s) => s.port);
}

/**
 * /proc/net's hex address: 32-bit words in the host's (little-endian) byte order, so 0100007F is
 * 127.0.0.1. IPv6 comes back as eight full groups (`0000:…:0001`), which is enough to compare.
 */
function addressOf(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let b = 6; b >= 0; b -= 2) bytes.push(Number.parseInt(hex.slice(word + b, word + b + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16).padStart(4, '0'));
  return groups.join(':');
}
