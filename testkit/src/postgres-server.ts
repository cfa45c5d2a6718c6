import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { startServerProcess } from './server-process.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';
/** The superuser initdb makes; its password is random per server. */
const SUPERUSER = 'nimbus';

export interface PostgresServerOptions {
  /** More `postgresql.conf` settings, passed as `-c name=value`. */
  settings?: Readonly<Record<string, string>>;
  /** How long to wait for the server to accept connections after each start (ms). */
  readyTimeoutMs?: number;
}

/**
 * A PostgreSQL cluster this harness made (initdb in a temp directory) and runs on a free loopback
 * port, ready for logical replication: never the machine's own server on 5432.
 */
export interface PostgresServer {
  readonly host: typeof HOST;
  readonly port: number;
  /** The superuser and its password (scram-sha-256 over TCP; no Unix socket is served). */
  readonly user: string;
  readonly password: string;
  /** The data directory; it outlives `restart()`. */
  readonly dataDir: string;
  /** PID of the running postmaster, undefined while stopped. */
  readonly pid: number | undefined;
  /** The server's recent output, across restarts (the last 64 KiB). */
  readonly output: string;
  /** `postgres://user:password@127.0.0.1:<port>/<database>`, for any role (the superuser by default). */
  url(database?: string, role?: { user: string; password: string }): string;
  /** Runs SQL with psql as the superuser and gives its output, unaligned and tuples only. */
  sql(text: string, database?: string): Promise<string>;
  /** Fast shutdown (as `pg_ctl restart -m fast`), then starts again on the same port and data. */
  restart(): Promise<void>;
  /** Fast shutdown, keeping the data, so a test can see clients meet a missing server. */
  pause(): Promise<void>;
  /** Starts it again after `pause()`. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The directory holding initdb, postgres, pg_isready and psql: /usr/local/bin's links, or Debian's newest. */
async function binDir(): Promise<string | undefined> {
  try {
    return dirname(await realpath('/usr/local/bin/initdb'));
  } catch {
    // not linked there
  }
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = join('/usr/lib/postgresql', version, 'bin');
    if (
      await stat(join(dir, 'initdb')).then(
        () => true,
        () => false,
      )
    )
      return dir;
  }
  return undefined;
}

async function installPostgres(): Promise<string> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sh = (cmd: string) =>
    process.getuid?.() === 0
      ? run('sh', ['-c', cmd], { env, maxBuffer: 64 * 1024 * 1024 })
      : run('sudo', ['-E', 'sh', '-c', cmd], { env, maxBuffer: 64 * 1024 * 1024 });
  try {
    await sh('apt-get update && apt-get install -y --no-install-recommends postgresql');
  } catch (err) {
    throw new Error(
      'PostgreSQL is in neither /usr/local/bin nor /usr/lib/postgresql/*/bin and installing it with apt-get failed; install the postgresql package (Debian/Ubuntu)',
      { cause: err },
    );
  }
  const dir = await binDir();
  if (dir === undefined) throw new Error('apt-get installed postgresql, but initdb is still not found');
  return dir;
}

let binaries: Promise<string> | undefined;

/** Finds the PostgreSQL binaries, installing Debian's package once per process when there are none. */
export function ensurePostgresBinaries(): Promise<string> {
  binaries ??= binDir().then((dir) => dir ?? installPostgres());
  binaries.catch(() => {
    binaries = undefined; // a later call tries again rather than keep the failure
  });
  return binaries;
}

/** initdb refuses root: as root, the server runs as the `postgres` OS user (made when missing). */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    return { uid, gid };
  };
  try {
    return await ids();
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    return ids();
  }
}

/** SIGINT is PostgreSQL's fast shutdown: open sessions (a walsender too) are ended, not waited for. */
async function fastStop(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Makes a cluster with initdb (superuser `nimbus`, a random password, scram-sha-256) in a temp
 * directory and starts it on a free loopback port with `wal_level=logical` and room for replication
 * slots. Stop it with `stop()`.
 */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = await ensurePostgresBinaries();
  const owner = await serverUser();
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-pg-'));
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const asOwner = owner === undefined ? {} : { uid: owner.uid, gid: owner.gid };
  let child: ChildProcess | undefined;
  let output = '';
  try {
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
    if (owner !== undefined)
      for (const path of [dir, dataDir, join(dir, 'pwfile')]) await chown(path, owner.uid, owner.gid);
    // The C locale with UTF-8 text: there on every machine, and sorting does not matter here.
    const initdbArgs = [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '--pwfile',
      join(dir, 'pwfile'),
      '-A',
      'scram-sha-256',
    ];
    await run(join(bin, 'initdb'), [...initdbArgs, '-E', 'UTF8', '--locale=C', '--no-sync'], {
      ...asOwner,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed in ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: HOST,
    port: String(port),
    unix_socket_directories: '',
    wal_level: 'logical',
    max_replication_slots: '16',
    max_wal_senders: '16',
    // A test cluster: losing it to a power cut is fine, waiting on fsync is not.
    fsync: 'off',
    ...options.settings,
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const env = { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '2' };

  const launch = async () => {
    const started = await startServerProcess(join(bin, 'postgres'), args, {
      what: `postgres on port ${port}`,
      ...asOwner,
      cwd: dir,
      ready: () =>
        run(join(bin, 'pg_isready'), ['-h', HOST, '-p', String(port), '-U', SUPERUSER, '-d', 'postgres'], {
          env,
        }).then(
          () => true,
          () => false,
        ),
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      onOutput: (text) => {
        output = (output + text).slice(-65_536);
      },
    });
    child = started.child;
  };
  const halt = async () => {
    const current = child;
    child = undefined;
    if (current !== undefined) await fastStop(current);
  };

  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const url = (database = 'postgres', role = { user: SUPERUSER, password }) =>
    `postgres://${encodeURIComponent(role.user)}:${encodeURIComponent(role.password)}@${HOST}:${port}/${encodeURIComponent(database)}`;
  return {
    host: HOST,
    port,
    user: SUPERUSER,
    password,
    dataDir,
    get pid() {
      return child?.pid;
    },
    get output() {
      return output;
    },
    url,
    async sql(text, database = 'postgres') {
      const psqlArgs = ['-h', HOST, '-p', String(port), '-U', SUPERUSER, '-d', database];
      const { stdout } = await run(
        join(bin, 'psql'),
        [...psqlArgs, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', text],
        { env, maxBuffer: 64 * 1024 * 1024 },
      );
      return stdout.trim();
    },
    async restart() {
      await halt();
      await launch();
    },
    pause: halt,
    async resume() {
      if (child === undefined) await launch();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
