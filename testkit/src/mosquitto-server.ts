import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debianBinary } from './debian-binary.js';
import { freePort } from './free-port.js';
import { startServerProcess } from './server-process.js';
import { stopChild } from './stop-child.js';

const HOST = '127.0.0.1';
const run = promisify(execFile);

/** The one login a broker started with `user` accepts. */
export interface MosquittoUser {
  readonly user: string;
  readonly password: string;
}

export interface MosquittoServerOptions {
  /** Only this user may connect (anonymous off). Unset: anyone may. */
  readonly user?: MosquittoUser;
  /** Messages the broker queues for one offline session before it drops them (default 100,000). */
  readonly maxQueuedMessages?: number;
  /** How long to wait for the listener after each start (ms). */
  readonly readyTimeoutMs?: number;
}

export interface MosquittoServer {
  readonly host: typeof HOST;
  readonly port: number;
  /** `mqtt://127.0.0.1:<port>`, with no login in it. */
  readonly url: string;
  /** Where the broker saves its sessions and queued messages; it outlives `restart()`. */
  readonly dataDir: string;
  /** PID of the running process, undefined while stopped. */
  readonly pid: number | undefined;
  /** The broker's recent output, across restarts (the last 64 KiB). */
  readonly output: string;
  /** Stops the broker (SIGTERM: it saves its sessions first) and keeps its data, to be resumed. */
  pause(): Promise<void>;
  /** Starts it again on the same port and data after `pause()`. */
  resume(): Promise<void>;
  /** `pause()` then `resume()`: sessions and their queued messages survive. */
  restart(): Promise<void>;
  /** Stops the broker for good and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Debian's mosquitto on a free loopback port, with a config file of its own in a temp directory:
 * persistence on (a restart keeps sessions and what they queued), optionally one user from a
 * password file with anonymous access off. Never the machine's own broker on 1883.
 */
export async function startMosquittoServer(options: MosquittoServerOptions = {}): Promise<MosquittoServer> {
  const binary = await mosquittoBinary();
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-mosquitto-'));
  try {
    return await launchOnFreePort(binary, dir, options);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launchOnFreePort(
  binary: string,
  dir: string,
  options: MosquittoServerOptions,
): Promise<MosquittoServer> {
  if (options.user !== undefined) {
    await run(passwdBinary(binary), [
      '-c',
      '-b',
      join(dir, 'passwd'),
      options.user.user,
      options.user.password,
    ]);
  }
  // A free port can be taken by someone else before mosquitto binds it: try a few.
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(dir, 'mosquitto.conf');
    await writeFile(config, mosquittoConfig(port, dir, options), { mode: 0o600 });
    const server = new MosquittoProcess(binary, config, port, dir, options.readyTimeoutMs ?? 10_000);
    try {
      await server.resume();
      return server;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

function mosquittoConfig(port: number, dir: string, options: MosquittoServerOptions): string {
  const lines = [
    `listener ${port} ${HOST}`,
    // Run as whoever runs the tests (as root it would otherwise switch to the user "mosquitto",
    // which cannot read this directory).
    `user ${userInfo().username}`,
    'persistence true',
    `persistence_location ${dir}/`,
    `max_queued_messages ${options.maxQueuedMessages ?? 100_000}`,
    'max_queued_bytes 0',
    // stderr: unbuffered, so "running" is seen when it is said.
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
  ];
  if (options.user === undefined) lines.push('allow_anonymous true');
  else lines.push('allow_anonymous false', `password_file ${join(dir, 'passwd')}`);
  return `${lines.join('\n')}\n`;
}

class MosquittoProcess implements MosquittoServer {
  readonly host = HOST;
  private child: ChildProcess | undefined;
  private log = '';

  constructor(
    private readonly binary: string,
    private readonly config: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly readyTimeoutMs: number,
  ) {}

  get url(): string {
    return `mqtt://${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get output(): string {
    return this.log;
  }

  async resume(): Promise<void> {
    if (this.child !== undefined) return;
    const mark = this.log.length;
    const started = await startServerProcess(this.binary, ['-c', this.config], {
      what: `mosquitto on port ${this.port}`,
      // It says "running" once its listeners are open; the connect proves this one is.
      ready: async () => this.log.slice(mark).includes(' running') && (await accepts(this.port)),
      readyTimeoutMs: this.readyTimeoutMs,
      onOutput: (text) => {
        this.log = (this.log + text).slice(-65_536);
      },
    });
    this.child = started.child;
  }

  async pause(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined) await stopChild(child, 10_000);
  }

  async restart(): Promise<void> {
    await this.pause();
    await this.resume();
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** mosquitto_passwd ships in the same package, in /usr/bin beside the broker's /usr/sbin. */
function passwdBinary(broker: string): string {
  return broker.startsWith('/usr/sbin/')
    ? '/usr/bin/mosquitto_passwd'
    : join(broker, '..', 'mosquitto_passwd');
}

/** The broker, from Debian's mosquitto package when it is missing. */
export function mosquittoBinary(): Promise<string> {
  return debianBinary({ binary: 'mosquitto', pkg: 'mosquitto' });
}
