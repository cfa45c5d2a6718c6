import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { stopChild } from '@nimbus/testkit';

/**
 * An address of this machine that is not loopback. The API server refuses loopback addresses in
 * an EndpointSlice ("may not be in the loopback range"), so replicas a test lists in slices must
 * listen on one of these. Undefined when the machine has none of that family.
 */
export function routableAddress(family: 'IPv4' | 'IPv6'): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.internal || a.family !== family) continue;
      // Link-local IPv6 needs a zone (fe80::1%eth0), which an EndpointSlice cannot carry.
      if (family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')) continue;
      return a.address;
    }
  }
  return undefined;
}

export interface RuntimeReplica {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A runtime-node replica serving `code` (an ES module) on `host` and a port it picks, started
 * and awaited the way local mode does: over IPC, until it says `ready`.
 */
export async function startRuntimeReplica(options: {
  host: string;
  code: string;
  name: string;
  namespace: string;
  env?: Record<string, string>;
}): Promise<RuntimeReplica> {
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-replica-'));
  await writeFile(join(dir, 'index.mjs'), options.code);
  const child = spawn(process.execPath, [runtimeEntryPath()], {
    env: {
      PATH: process.env.PATH,
      ...options.env,
      HOST: options.host,
      PORT: '0',
      NIMBUS_FUNCTION_DIR: dir,
      NIMBUS_HANDLER: 'index.default',
      NIMBUS_FUNCTION_NAME: options.name,
      NIMBUS_FUNCTION_NAMESPACE: options.namespace,
      NIMBUS_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    const port = await readyOn(child, () => stderr);
    return {
      host: options.host,
      port,
      async stop() {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function readyOn(child: ChildProcess, stderr: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    let port: number | undefined;
    const timer = setTimeout(
      () => reject(new Error(`the replica was not ready within 15 s: ${stderr()}`)),
      15_000,
    );
    child.on('message', (message: { type?: string; port?: number; reason?: string }) => {
      if (message.type === 'listening') port = message.port;
      else if (message.type === 'ready' && port !== undefined) {
        clearTimeout(timer);
        resolve(port);
      } else if (message.type === 'load-failed') {
        clearTimeout(timer);
        reject(new Error(`the replica could not load its handler: ${message.reason}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the replica exited (${signal ?? code}) before it was ready: ${stderr()}`));
    });
  });
}
