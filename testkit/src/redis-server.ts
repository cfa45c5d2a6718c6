import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually.js';
import { freePort } from './free-port.js';
import { stopChild } from './stop-child.js';

const HOST = '127.0.0.1';
const run = promisify(execFile);

export interface RedisServerOptions {
  /** A fixed port; by default a free loopback port is chosen (never the machine's 6379). */
  port?: number;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: readonly string[];
  /** How long to wait for the first PONG. */
  startTimeoutMs?: number;
}

/** A `redis-server` process this harness started, on loopback, with nothing persisted. */
export interface RedisServer {
  readonly host: typeof HOST;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The PID of the running process, undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, then SIGKILL); the server can be started again on the same port. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers PING. */
  start(): Promise<void>;
  restart(): Promise<void>;
}

/** Children still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a kill by PID is, and it only ever reaches our own children.
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

async function onPath(binary: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

async function installRedisServer(): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const sh = (cmd: string) =>
    asRoot
      ? run('sh', ['-c', cmd], { env: envForApt() })
      : run('sudo', ['-E', 'sh', '-c', cmd], { env: envForApt() });
  try {
    await sh('apt-get update && apt-get install -y --no-install-recommends redis-server');
  } catch (err) {
    throw new Error(
      'redis-server is not on PATH and installing it with apt-get failed; install the redis-server package (Debian/Ubuntu) or put redis-server on PATH',
      { cause: err },
    );
  }
  if (!(await onPath('redis-server')))
    throw new Error('apt-get installed redis-server, but it is still not on PATH');
}

function envForApt(): NodeJS.ProcessEnv {
  return { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
}

let binaryReady: Promise<void> | undefined;

/** Makes sure `redis-server` can be run, installing it once per process when it is missing. */
export function ensureRedisServerBinary(): Promise<void> {
  binaryReady ??= onPath('redis-server').then((found) => (found ? undefined : installRedisServer()));
  binaryReady.catch(() => {
    binaryReady = undefined; // let a later call try again rather than cache the failure
  });
  return binaryReady;
}

/**
 * One inline PING over a fresh socket: true when the server answers, with +PONG or, when
 * started with --requirepass, with -NOAUTH (it is up, it just wants a login first).
 */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.write('PING\r\n');
  });
}

class RedisServerProcess implements RedisServer {
  readonly host = HOST;
  private child: ChildProcess | undefined;
  private dir: string | undefined;

  constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error(`redis-server on port ${this.port} is already running`);
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-redis-'));
    // Nothing is saved: no RDB snapshots, no AOF, so a restart comes back empty and fast.
    const args = [
      '--port',
      String(this.port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...(this.options.args ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    this.child = child;
    this.dir = dir;
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // An early exit (a port taken after all, a bad argument) ends the wait at once.
    let exited: string | undefined;
    const died = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => {
        exited = `exited (${signal ?? code})`;
        reject(new Error(`redis-server ${exited}`));
      });
      child.once('error', (err) => {
        exited = `could not be started: ${err.message}`;
        reject(err);
      });
    });
    died.catch(() => {}); // a later exit (stop()) is not an error
    try {
      await Promise.race([
        died,
        eventually(
          async () => ((await ping(this.port)) ? true : undefined),
          this.options.startTimeoutMs ?? 10_000,
          `redis-server on port ${this.port} to answer PING`,
        ),
      ]);
    } catch (err) {
      await this.stop();
      throw new Error(
        `redis-server on port ${this.port} did not start${exited ? `: ${exited}` : ''}\n${output}`,
        {
          cause: err,
        },
      );
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    const dir = this.dir;
    this.child = undefined;
    this.dir = undefined;
    if (child !== undefined) await stopChild(child, 5_000);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/**
 * Starts `redis-server` on a free loopback port and waits until it answers PING. Tests never
 * touch a Redis the machine may already run. Stop it with `stop()`; a suite that stops Redis
 * on purpose starts a server of its own rather than using the shared one.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  await ensureRedisServerBinary();
  // A free port can be taken by someone else before redis-server binds it: try a few.
  const attempts = options.port === undefined ? 3 : 1;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const server = new RedisServerProcess(options.port ?? (await freePort()), options);
    try {
      await server.start();
      return server;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

let shared: Promise<RedisServer> | undefined;

/**
 * One Redis for a whole mocha run, started on first use. Suites keep apart by key prefix
 * (or flush it); whoever registers the run's root hooks calls `stopSharedRedisServer()`.
 */
export function sharedRedisServer(): Promise<RedisServer> {
  shared ??= startRedisServer();
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

export async function stopSharedRedisServer(): Promise<void> {
  const server = await shared?.catch(() => undefined);
  shared = undefined;
  await server?.stop();
}
