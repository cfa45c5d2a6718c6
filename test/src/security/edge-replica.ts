import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import 'reflect-metadata';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger } from '@nimbus/api';
import { type Gateway, RouteTable, TOKENS, createGatewayContainer, loadGatewayConfig } from '@nimbus/gateway';
import { runtimeEntryPath } from '@nimbus/runtime-node';
import { send, stopChild } from '@nimbus/testkit';

export const EDGE_ADMIN_KEY = 'edge-admin-key-0000000000';
export const EDGE_INVOKE_KEY = 'edge-invoke-key-000000000';

export interface LogLine {
  msg?: string;
  [field: string]: unknown;
}

/**
 * A runtime-node replica process on loopback serving `code`, with the log lines it writes: the
 * edge attack tests read its own counters (`/_/metrics`) and its log, not the gateway's word.
 * `loaded` says whether its handler loaded (a replica whose handler fails to load stays up).
 */
export class EdgeReplica {
  readonly base: string;

  private constructor(
    /** Every JSON line the replica wrote on stdout, as it writes them. */
    readonly logs: LogLine[],
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly loaded: boolean,
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  static async start(code: string, env: Record<string, string> = {}): Promise<EdgeReplica> {
    const dir = await mkdtemp(join(tmpdir(), 'nimbus-edge-'));
    await writeFile(join(dir, 'index.mjs'), code);
    const child = spawn(process.execPath, [runtimeEntryPath()], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        NIMBUS_FUNCTION_DIR: dir,
        NIMBUS_HANDLER: 'index.default',
        NIMBUS_FUNCTION_NAME: 'edge',
        NIMBUS_FUNCTION_NAMESPACE: 'default',
        NIMBUS_LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const logs: LogLine[] = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    try {
      const { port, loaded } = await new Promise<{ port: number; loaded: boolean }>((resolve, reject) => {
        let port: number | undefined;
        const timer = setTimeout(() => reject(new Error(`replica not up within 15 s: ${stderr}`)), 15_000);
        child.on('message', (m: { type?: string; port?: number }) => {
          if (m.type === 'listening') port = m.port;
          else if ((m.type === 'ready' || m.type === 'load-failed') && port !== undefined) {
            clearTimeout(timer);
            resolve({ port, loaded: m.type === 'ready' });
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`replica exited (${code}) before it was up: ${stderr}`));
        });
      });
      return new EdgeReplica(logs, child, dir, port, loaded);
    } catch (err) {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The first log line `match` accepts, waiting for it up to `ms`. */
  async waitForLog(match: (line: LogLine) => boolean, ms = 5_000): Promise<LogLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.logs.find(match);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline)
        throw new Error(`no such log line within ${ms} ms: ${JSON.stringify(this.logs)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The value of one series of the replica's own metrics (0 when the series does not exist). */
  async metric(name: string, labels = ''): Promise<number> {
    const text = (await send(this.base, '/_/metrics')).text;
    const series = labels === '' ? name : `${name}{${labels}}`;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
    }
    return 0;
  }

  /** Every series of a metric, as `labels → value`. */
  async series(name: string): Promise<Map<string, number>> {
    const text = (await send(this.base, '/_/metrics')).text;
    const found = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      const close = line.indexOf('} ');
      found.set(line.slice(name.length + 1, close), Number(line.slice(close + 2)));
    }
    return found;
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface EdgeGateway {
  readonly base: string;
  /** Where /metrics is served without a key (NIMBUS_METRICS_PORT), when asked for. */
  readonly metricsBase: string | undefined;
  readonly routes: RouteTable;
  /** Routes `name` (auth key unless said otherwise) to the replicas. */
  route(name: string, replicas: EdgeReplica[], auth?: 'key' | 'none'): void;
  close(): Promise<void>;
}

/** The gateway as a cluster runs it, on loopback, with routes the test sets. */
export async function startEdgeGateway(env: Record<string, string> = {}): Promise<EdgeGateway> {
  const routes = new RouteTable();
  const config = loadGatewayConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    NIMBUS_API_KEYS: `admin:${EDGE_ADMIN_KEY},invoke:${EDGE_INVOKE_KEY}`,
    ...env,
  });
  const container = createGatewayContainer(config, { routes, logger: createLogger({}, 'error', () => {}) });
  const gateway = container.resolve<Gateway>(TOKENS.Gateway);
  const address = await gateway.listen();
  const metrics = gateway.metricsAddress;
  return {
    base: `http://127.0.0.1:${address.port}`,
    metricsBase: metrics === undefined ? undefined : `http://127.0.0.1:${metrics.port}`,
    routes,
    route(name, replicas, auth = 'key') {
      routes.upsert({ name, namespace: 'default', timeoutMs: 5000, concurrency: 10, auth });
      routes.setEndpoints(
        'default',
        name,
        replicas.map((r, i) => ({ id: `${name}-${i}`, host: '127.0.0.1', port: r.port })),
      );
    },
    close: () => gateway.close(),
  };
}
