import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { type ServerProcess, startServerProcess } from './server-process.js';
import { stopChild } from './stop-child.js';

const run = promisify(execFile);

/** The versitygw release the tests build from the Go module proxy (it needs Go 1.25 or later). */
export const VERSITYGW_VERSION = 'v1.8.0';
const VERSITYGW_MODULE = 'github.com/versity/versitygw/cmd/versitygw';

export interface S3ServerOptions {
  /** The root user's keys; random when unset. */
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /**
   * Where versitygw pushes S3 event notifications (its one, global webhook: versitygw answers
   * PutBucketNotificationConfiguration with NotImplemented). It POSTs a test event there as it
   * starts and will not start if nothing listens, so start the receiver first.
   */
  eventWebhookUrl?: string;
  /**
   * Which events it sends, as its --event-filter file takes them: `{ "s3:ObjectCreated:*": true }`.
   * Unset, every event (tagging and ACL changes too).
   */
  eventFilter?: Readonly<Record<string, boolean>>;
  readyTimeoutMs?: number;
  /** A port chosen beforehand (a Function that names the store's endpoint is written first); free by default. */
  port?: number;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>`: path-style requests only. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The posix backend's root: each folder a bucket. It outlives `restart()`. */
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Its recent output, across restarts. */
  readonly output: string;
  /** Stops the process by its PID and removes the data. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops the process, keeping port and data, so a test sees clients meet a missing server. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/**
 * versitygw, an S3 gateway, with its posix backend in a temp dir on a free loopback port: real
 * S3 requests, SigV4 and event notifications, never a shared store. Built once per machine into
 * ~/.cache/nimbus/versitygw-<version>/. Ready means it answers HTTP.
 */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const binary = await versitygwBinary();
  const port = options.port ?? (await freePort());
  const dataDir = await mkdtemp(join(tmpdir(), 'nimbus-s3-'));
  const accessKeyId = options.accessKeyId ?? `AK${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = options.secretAccessKey ?? randomBytes(20).toString('base64url');
  const region = options.region ?? 'us-east-1';
  // --keep-alive: versitygw closes every connection after one response otherwise, which no
  // production S3 does; a client would pay a TCP connect per request (an S3 poller, one per HEAD).
  const args = ['--port', `127.0.0.1:${port}`, '--region', region, '--quiet', '--keep-alive'];
  if (options.eventWebhookUrl !== undefined) args.push('--event-webhook-url', options.eventWebhookUrl);
  if (options.eventFilter !== undefined) {
    const filter = join(dataDir, '.event-filter.json');
    await writeFile(filter, JSON.stringify(options.eventFilter));
    args.push('--event-filter', filter);
  }
  const backend = join(dataDir, 'buckets');
  await mkdir(backend);
  args.push('posix', backend);
  // The root keys go through the environment, not argv, where any process could read them.
  const env = { ...process.env, ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey };
  let current: ServerProcess | undefined;
  let output = '';

  const launch = async () => {
    current = await startServerProcess(binary, args, {
      what: `versitygw on port ${port}`,
      env,
      ready: () => answersHttp(port),
      readyTimeoutMs: options.readyTimeoutMs ?? 15_000,
      onOutput: (text) => {
        output = (output + text).slice(-65_536);
      },
    });
  };
  const halt = async () => {
    const child = current?.child;
    current = undefined;
    if (child !== undefined) await stopChild(child, 5_000);
  };

  try {
    await launch();
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    region,
    accessKeyId,
    secretAccessKey,
    dataDir: backend,
    get pid() {
      return current?.child.pid;
    },
    get output() {
      return output;
    },
    async stop() {
      await halt();
      await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    pause: halt,
    async resume() {
      if (current === undefined) await launch();
    },
  };
}

function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined);
    });
    req.setTimeout(1_000, () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

let building: Promise<string> | undefined;

/**
 * The versitygw binary, built with Go from the module proxy on first use (about 6 minutes on 2
 * cores, at the lowest priority) and cached under ~/.cache/nimbus/versitygw-<version>/.
 */
export function versitygwBinary(): Promise<string> {
  building ??= findOrBuild();
  building.catch(() => {
    building = undefined;
  });
  return building;
}

async function findOrBuild(): Promise<string> {
  const cache = join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'nimbus',
    `versitygw-${VERSITYGW_VERSION}`,
  );
  const target = join(cache, 'versitygw');
  if (await exists(target)) return target;
  const go = await goCommand();
  // GOBIN a folder of this process's own: a build cut short never leaves a binary later runs trust.
  const partial = join(cache, `partial-${process.pid}`);
  await mkdir(partial, { recursive: true });
  try {
    await run('nice', ['-n', '19', go, 'install', `${VERSITYGW_MODULE}@${VERSITYGW_VERSION}`], {
      env: { ...process.env, GOBIN: partial, GOFLAGS: '-mod=mod' },
      maxBuffer: 64 * 1024 * 1024,
    });
    await rename(join(partial, 'versitygw'), target);
  } catch (err) {
    throw new Error(
      `building versitygw ${VERSITYGW_VERSION} with ${go} failed (it needs Go 1.25 or later and the Go module proxy)`,
      { cause: err },
    );
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return target;
}

/** Go where the project's machines have it (README: Go 1.26), else whatever `go` PATH finds. */
async function goCommand(): Promise<string> {
  for (const candidate of ['/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (await exists(candidate)) return candidate;
  }
  return 'go';
}
