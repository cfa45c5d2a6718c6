import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianBinary } from './debian-binary.js';
import { freePorts } from './free-port.js';
import { startServerProcess } from './server-process.js';
import { stopChild } from './stop-child.js';

/** One direction's rules as nats-server takes them: allowed unless denied; nothing when `allow` is empty. */
export interface NatsSubjectRules {
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

/** A user of a server started with `users`; no `permissions`: everything. */
export interface NatsServerUser {
  readonly user: string;
  readonly password: string;
  readonly permissions?: {
    readonly publish?: NatsSubjectRules;
    readonly subscribe?: NatsSubjectRules;
  };
}

export interface NatsServerOptions {
  /** How long to wait for the server to answer after each start (ms). */
  readyTimeoutMs?: number;
  /** Keep the JetStream store directory when the server stops, for a post-mortem. */
  keepStore?: boolean;
  /**
   * Starts with authorization: only these users may connect, each with its permissions. Unset: anyone
   * may connect and do anything.
   */
  users?: readonly NatsServerUser[];
  /** More nats.conf text, such as the chart's own authorization block (then leave `users` out). */
  config?: string;
  /** Variables the server's environment gets besides this process's: what `$NAME` in `config` reads. */
  env?: Readonly<Record<string, string>>;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  /** The JetStream store directory; it outlives `restart()`. */
  readonly storeDir: string;
  /** The server's recent output, across restarts (the last 64 KiB): permission violations are logged there. */
  readonly output: string;
  /** PID of the current process, undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the server process; the store directory is removed unless `keepStore`. */
  stop(): Promise<void>;
  /** Stops the process and starts it again on the same ports and store, so persisted streams survive. */
  restart(): Promise<void>;
  /** Stops the process but keeps the store, so a test can see clients meet a missing server. */
  pause(): Promise<void>;
  /** Starts the process again after `pause()`. */
  resume(): Promise<void>;
}

/**
 * A nats-server with JetStream on free loopback ports and a store of its own, for tests: never the
 * machine's own server on 4222. Ready means the monitor's JetStream health check passes and the
 * client port greets with INFO.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = await natsServerBinary();
  const [port, monitorPort] = (await freePorts(2)) as [number, number];
  const storeDir = await mkdtemp(join(tmpdir(), 'nimbus-nats-'));
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-js', '-sd', storeDir];
  let configDir: string | undefined;
  if (options.users !== undefined || options.config !== undefined) {
    configDir = await mkdtemp(join(tmpdir(), 'nimbus-nats-conf-'));
    const config = join(configDir, 'nats.conf');
    const text = `${options.users === undefined ? '' : authorizationConfig(options.users)}${options.config ?? ''}\n`;
    await writeFile(config, text, { mode: 0o600 });
    args.push('-c', config);
  }
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async () => {
    const started = await startServerProcess(binary, args, {
      what: `nats-server on port ${port}`,
      env: { ...process.env, ...options.env },
      ready: () => isReady(port, monitorPort),
      readyTimeoutMs,
      // Kept across restarts: a test reads what the server said before one too.
      onOutput: (text) => {
        output = (output + text).slice(-65_536);
      },
    });
    child = started.child;
  };

  const halt = async () => {
    const current = child;
    child = undefined;
    if (current !== undefined) await stopChild(current, 5_000);
  };

  try {
    await launch();
  } catch (err) {
    await Promise.all(
      [storeDir, configDir].map((d) =>
        d === undefined ? undefined : rm(d, { recursive: true, force: true }),
      ),
    );
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorPort,
    storeDir,
    get pid() {
      return child?.pid;
    },
    get output() {
      return output;
    },
    async stop() {
      await halt();
      if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
      if (options.keepStore !== true) await rm(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    pause: halt,
    async resume() {
      if (child === undefined) await launch();
    },
  };
}

/**
 * nats.conf's `authorization` block. The config language takes JSON, and JSON strings keep
 * subjects such as `$JS.API.>` literal (unquoted, `$` would name a variable).
 */
export function authorizationConfig(users: readonly NatsServerUser[]): string {
  const entries = users.map(({ user, password, permissions }) => ({
    user,
    password,
    ...(permissions === undefined ? {} : { permissions }),
  }));
  return `authorization: ${JSON.stringify({ users: entries }, null, 2)}\n`;
}

async function isReady(port: number, monitorPort: number): Promise<boolean> {
  return (await jetStreamHealthy(monitorPort)) && (await greets(port));
}

function jetStreamHealthy(monitorPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: monitorPort, path: '/healthz?js-enabled-only=true', agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.setTimeout(1_000, () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The client port is listening and the server speaks first, as NATS does. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('data', (chunk: Buffer) => done(chunk.toString('utf8').startsWith('INFO ')));
    socket.once('error', () => done(false));
  });
}

/** The nats-server binary, from Debian's nats-server package when it is missing. */
export function natsServerBinary(): Promise<string> {
  return debianBinary({ binary: 'nats-server', pkg: 'nats-server' });
}
