import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Pod IPs for pods run as local processes: each pod gets an address of its own from
 * 10.244.0.0/16 (the pod network kubeadm and flannel use by default), added as a /32 to `lo`.
 *
 * Why not loopback: the API server refuses 127.0.0.0/8 in EndpointSlices ("may not be in the
 * loopback range", ValidateEndpointIP in pkg/apis/core/validation), so pods on 127.x.y.z would
 * never reach a slice. Why not one host address with a port per pod: the EndpointSlice
 * controller takes each endpoint's port from the pod spec's named container port, which the
 * Nimbus controller fixes at 8080 for every pod, so every pod would claim the same address and
 * port. An address per pod on `lo` is what a CNI gives a pod, in miniature: every pod listens on
 * 8080, the gateway dials the slice's address as it would in a cluster, and the address is
 * local, so nothing leaves the machine.
 *
 * It needs CAP_NET_ADMIN and iproute2 (installed with apt-get when missing). `ip addr add`
 * refuses an address already there, which makes claiming an address atomic across test runs
 * sharing the machine. Each address is labelled with the claiming process's PID (`lo:nt<pid>`),
 * so one run cleans up what a killed run left behind.
 */
export class PodAddresses {
  private readonly held = new Set<string>();
  private readonly label = `lo:nt${process.pid}`;

  private constructor() {}

  static async open(): Promise<PodAddresses> {
    await ensureIproute2();
    const addresses = new PodAddresses();
    await addresses.sweepAbandoned();
    return addresses;
  }

  /** A fresh address of this machine nobody else holds. */
  async claim(): Promise<string> {
    for (let attempt = 0; attempt < 100; attempt++) {
      // x.y.0 and x.y.255 left out: harmless on a /32, but they read as network and broadcast.
      const address = `10.244.${randomInt(1, 255)}.${randomInt(1, 255)}`;
      try {
        await run('ip', ['-4', 'addr', 'add', `${address}/32`, 'dev', 'lo', 'label', this.label]);
        this.held.add(address);
        return address;
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '');
        if (/already assigned|File exists/i.test(stderr)) continue;
        throw new Error(
          `could not add ${address}/32 to lo for a pod (the pod runner needs CAP_NET_ADMIN): ${stderr.trim()}`,
          { cause: err },
        );
      }
    }
    throw new Error('no free address in 10.244.0.0/16 after 100 tries');
  }

  async release(address: string): Promise<void> {
    if (!this.held.delete(address)) return;
    await run('ip', ['-4', 'addr', 'del', `${address}/32`, 'dev', 'lo']).catch(() => {});
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((a) => this.release(a)));
  }

  /** Removes addresses whose labels name a process that no longer exists. */
  private async sweepAbandoned(): Promise<void> {
    const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']);
    for (const line of stdout.split('\n')) {
      const found = /inet (10\.244\.\d+\.\d+)\/32 .*\blo:nt(\d+)\b/.exec(line);
      if (found === null || alive(Number(found[2]))) continue;
      await run('ip', ['-4', 'addr', 'del', `${found[1]}/32`, 'dev', 'lo']).catch(() => {});
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `ip` from iproute2, installed with apt-get on a Debian-like machine that lacks it. */
async function ensureIproute2(): Promise<void> {
  try {
    await run('ip', ['-V']);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update'], { env, maxBuffer: 16 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'iproute2'], {
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error('the pod runner needs `ip` (iproute2); installing it with apt-get failed', {
      cause: err,
    });
  }
}
