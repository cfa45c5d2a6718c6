import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './free-port.js';
import { startServerProcess } from './server-process.js';
import { stopChild } from './stop-child.js';

const run = promisify(execFile);

/** Debian's layout: the server script itself, not /usr/sbin's wrapper, which would `su rabbitmq`. */
const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const CTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
const EPMD = '/usr/bin/epmd';
/** Values the server's config file takes bare: no quoting rules to get wrong. */
const PLAIN = /^[A-Za-z0-9._-]{1,64}$/;

export interface RabbitMqServerOptions {
  /** The one user, administrator of `vhost` (default `nimbus`). */
  user?: string;
  /** Its password (default: random); letters, digits, `.`, `_` and `-`. */
  password?: string;
  /** The vhost made on first boot (default `/`). */
  vhost?: string;
  /** How long to wait for the broker to speak AMQP after each start (ms); it boots in seconds. */
  readyTimeoutMs?: number;
}

export interface RabbitMqServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
  /** `amqp://user:password@127.0.0.1:<port>/<vhost>`: a client's URL, with the credentials. */
  readonly url: string;
  /** The broker's data (RABBITMQ_MNESIA_BASE); it outlives `restart()`. */
  readonly dataDir: string;
  /** The broker's recent output across restarts (the last 64 KiB). */
  readonly output: string;
  /** PID of the broker's Erlang VM, undefined while stopped. */
  readonly pid: number | undefined;
  /**
   * A queue's messages as the broker counts them, through rabbitmqctl (AMQP tells only the ready
   * ones): ready, and delivered but not yet acknowledged. Undefined when there is no such queue.
   */
  queueCounts(queue: string): Promise<{ ready: number; unacked: number; consumers: number } | undefined>;
  /** The queue's bindings, through rabbitmqctl: what AMQP cannot list. */
  bindings(queue: string): Promise<{ exchange: string; routingKey: string; arguments: string }[]>;
  /** Stops the broker and its epmd, and removes every file the harness made. */
  stop(): Promise<void>;
  /** Stops the broker (SIGTERM: a clean shutdown) and starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops the broker but keeps its data and epmd, so a test can see clients meet a missing broker. */
  pause(): Promise<void>;
  /** Starts it again after `pause()`. */
  resume(): Promise<void>;
}

/**
 * A RabbitMQ broker of the test's own, never the machine's on 5672: AMQP, Erlang distribution and
 * epmd on free loopback ports, a node name of its own, data, logs, config and Erlang cookie (HOME)
 * in a temp directory, no plugins. Ready means the AMQP port answers the protocol header with a
 * connection.start frame, which the broker only does once it has booted.
 */
export async function startRabbitMqServer(options: RabbitMqServerOptions = {}): Promise<RabbitMqServer> {
  const user = options.user ?? 'nimbus';
  const password = options.password ?? randomBytes(12).toString('hex');
  const vhost = options.vhost ?? '/';
  for (const [name, value] of Object.entries({ user, password }))
    if (!PLAIN.test(value)) throw new Error(`startRabbitMqServer: ${name} must match ${PLAIN}`);
  if (vhost !== '/' && !PLAIN.test(vhost))
    throw new Error(`startRabbitMqServer: vhost must be / or match ${PLAIN}`);
  await ensureRabbitMqServer();

  const [port, distPort, epmdPort] = (await freePorts(3)) as [number, number, number];
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-rabbitmq-'));
  const dataDir = join(dir, 'data');
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  let broker: ChildProcess | undefined;
  let epmd: ChildProcess | undefined;
  let output = '';
  const keep = (text: string) => {
    output = (output + text).slice(-65_536);
  };

  try {
    await mkdir(dataDir);
    await writeFile(join(dir, 'rabbitmq.conf'), brokerConfig({ port, user, password, vhost }), {
      mode: 0o600,
    });
    // Debian's /etc/rabbitmq files name the machine's own node and plugins: empty ones of ours instead.
    await writeFile(join(dir, 'rabbitmq-env.conf'), '');
    await writeFile(join(dir, 'enabled_plugins'), '[].\n');
    epmd = (
      await startServerProcess(EPMD, ['-port', String(epmdPort), '-address', '127.0.0.1'], {
        what: `epmd on port ${epmdPort}`,
        ready: () => answers(epmdPort),
        readyTimeoutMs: 10_000,
      })
    ).child;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  // Only what the broker needs: none of this process's RABBITMQ_* or ERL_* reaches it.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: dir,
    ERL_EPMD_PORT: String(epmdPort),
    RABBITMQ_NODENAME: `nimbus-${randomBytes(4).toString('hex')}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: dataDir,
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
    // The script then execs the VM itself, so the PID we hold is the broker's and SIGTERM stops it
    // cleanly; -noinput keeps it off the (empty) stdin.
    RABBITMQ_ALLOW_INPUT: 'true',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-noinput -kernel inet_dist_use_interface {127,0,0,1}',
  };

  const ctl = async (...args: string[]): Promise<string[][]> => {
    const { stdout } = await run(CTL, ['-n', env.RABBITMQ_NODENAME as string, '-q', ...args], {
      env,
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\t'));
  };
  const vhostArgs = ['-p', vhost];

  const launch = async () => {
    broker = (
      await startServerProcess(SERVER, [], {
        what: `rabbitmq-server on port ${port}`,
        env,
        cwd: dir,
        ready: () => answers(port, AMQP_HELLO),
        readyTimeoutMs,
        onOutput: keep,
      })
    ).child;
  };
  const halt = async () => {
    const current = broker;
    broker = undefined;
    // A clean shutdown writes the queues' indices, which takes a few seconds under load.
    if (current !== undefined) await stopChild(current, 30_000);
  };
  const stop = async () => {
    await halt();
    if (epmd !== undefined) await stopChild(epmd, 5_000);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  const path = vhost === '/' ? '%2F' : vhost;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    vhost,
    url: `amqp://${user}:${password}@127.0.0.1:${port}/${path}`,
    dataDir,
    get output() {
      return output;
    },
    get pid() {
      return broker?.pid;
    },
    async queueCounts(queue) {
      const rows = await ctl(
        'list_queues',
        ...vhostArgs,
        '--no-table-headers',
        'name',
        'messages_ready',
        'messages_unacknowledged',
        'consumers',
      );
      const row = rows.find((r) => r[0] === queue);
      return row === undefined
        ? undefined
        : { ready: Number(row[1]), unacked: Number(row[2]), consumers: Number(row[3]) };
    },
    async bindings(queue) {
      const rows = await ctl(
        'list_bindings',
        ...vhostArgs,
        '--no-table-headers',
        'source_name',
        'destination_name',
        'destination_kind',
        'routing_key',
        'arguments',
      );
      return rows
        .filter((r) => r[1] === queue && r[2] === 'queue' && r[0] !== '')
        .map((r) => ({ exchange: r[0] as string, routingKey: r[3] as string, arguments: r[4] ?? '' }));
    },
    stop,
    async restart() {
      await halt();
      await launch();
    },
    pause: halt,
    async resume() {
      if (broker === undefined) await launch();
    },
  };
}

function brokerConfig(o: { port: number; user: string; password: string; vhost: string }): string {
  return [
    `listeners.tcp.1 = 127.0.0.1:${o.port}`,
    `default_user = ${o.user}`,
    `default_pass = ${o.password}`,
    `default_vhost = ${o.vhost}`,
    'default_permissions.configure = .*',
    'default_permissions.read = .*',
    'default_permissions.write = .*',
    // The user logs in over loopback, which RabbitMQ refuses to its default user otherwise.
    'loopback_users = none',
    'log.console = true',
    'log.console.level = warning',
    'log.file = false',
    // A test machine's disk may be fuller than the default alarm allows; publishers must not block.
    'disk_free_limit.absolute = 10MB',
    '',
  ].join('\n');
}

/** The AMQP 0-9-1 protocol header; a booted broker answers with connection.start, a method frame (type 1). */
const AMQP_HELLO = {
  send: Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]),
  answer: (c: Buffer) => c[0] === 1,
};

/**
 * True when the loopback port accepts a connection and, given a `hello`, answers it as `answer`
 * says (epmd says nothing first, so for it accepting is enough).
 */
function answers(
  port: number,
  hello?: { send: Buffer; answer: (chunk: Buffer) => boolean },
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => (hello === undefined ? done(true) : socket.write(hello.send)));
    socket.once('data', (chunk: Buffer) => done(hello?.answer(chunk) ?? false));
    socket.once('error', () => done(false));
  });
}

let installed: Promise<void> | undefined;

/** Debian's rabbitmq-server (and the Erlang it brings), installed with apt-get once when missing. */
export function ensureRabbitMqServer(): Promise<void> {
  installed ??= (async () => {
    if (await present()) return;
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = process.getuid?.() === 0 ? ['apt-get'] : ['sudo', '-n', 'apt-get'];
    try {
      for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'rabbitmq-server']])
        await run(apt[0] as string, [...apt.slice(1), ...args], { env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      throw new Error('the RabbitMQ tests need rabbitmq-server, and installing it with apt-get failed', {
        cause: err,
      });
    }
    if (!(await present())) throw new Error(`apt-get installed rabbitmq-server, but ${SERVER} is missing`);
  })();
  installed.catch(() => {
    installed = undefined;
  });
  return installed;
}

async function present(): Promise<boolean> {
  try {
    await Promise.all([access(SERVER), access(EPMD)]);
    return true;
  } catch {
    return false;
  }
}
