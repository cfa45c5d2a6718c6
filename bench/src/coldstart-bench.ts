import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@nimbus/testkit';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { clusterColdStarts } from './cluster-coldstart.js';
import { COLDSTART_TARGETS, render } from './coldstart-table.js';
import type { Children } from './processes.js';
import { realNodeColdStarts } from './real-node-coldstart.js';
import { barePython, bareServer } from './servers.js';
import { coldStart } from './spawn-bench.js';
import { percentile } from './stats.js';

const RUNS = 30;
const ADMIN_KEY = 'bench-admin-key-0123456789';
/** A function at zero must answer within this, or the run fails. */
const REQUEST_DEADLINE_MS = 10_000;
const POLL_MS = 20;
/** Functions woken once each on the API-server harness, and on the real node each way. */
const CLUSTER_RUNS = 10;

const LOCAL_MAIN = fileURLToPath(new URL('../../../local/dist/src/main.js', import.meta.url));

// examples/hello.yaml's code, at min 0, scaled to zero after a second without traffic.
const COLD_FUNCTION = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: cold
spec:
  scale:
    min: 0
    scaleToZeroAfter: 1s
  source:
    inline: |
      export default async function (event) {
        const name = typeof event.query.name === 'string' ? event.query.name : 'world';
        return \`Hello, \${name}!\\n\`;
      }
`;

// The same hello in Python, on runtime-python.
const COLD_PYTHON_FUNCTION = `apiVersion: nimbus.dev/v1alpha1
kind: Function
metadata:
  name: cold
spec:
  runtime: python3.11
  scale:
    min: 0
    scaleToZeroAfter: 1s
  source:
    inline: |
      def handle(event, ctx):
          name = event.query.get("name", "world")
          return f"Hello, {name}!\\n"
`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a fresh connection. */
function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent: false, headers, timeout: REQUEST_DEADLINE_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within ${REQUEST_DEADLINE_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function replicasOf(base: string): Promise<number | undefined> {
  const reply = await get(base, '/system/functions', { authorization: `Bearer ${ADMIN_KEY}` });
  const list = JSON.parse(reply.body) as { metadata: { name: string }; status: { replicas: number } }[];
  return list.find((f) => f.metadata.name === 'cold')?.status.replicas;
}

/**
 * Starts local mode with a warm pool of `poolSize` (0: none), and times `RUNS` requests to a
 * function at zero. With `baseline`, each run is followed by one bare node spawn, interleaved so a
 * drift in machine load touches both series alike.
 */
async function series(
  children: Children,
  poolSize: number,
  baseline?: number[],
  python = false,
): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'nimbus-coldstart-'));
  const state = await mkdtemp(join(tmpdir(), 'nimbus-coldstart-state-'));
  await writeFile(join(dir, 'cold.yaml'), python ? COLD_PYTHON_FUNCTION : COLD_FUNCTION);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const samples: number[] = [];
  const label = `${python ? 'python, ' : ''}${poolSize === 0 ? 'no pool' : `pool of ${poolSize}`}`;
  try {
    const local = children.spawn(process.execPath, [LOCAL_MAIN, dir], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: String(port),
        NIMBUS_STATE_DIR: state,
        NIMBUS_API_KEYS: `admin:${ADMIN_KEY}`,
        NIMBUS_LOG_LEVEL: 'warn',
        NIMBUS_WARM_POOL_SIZE: String(poolSize),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until('local mode to be ready', 20_000, async () =>
      (await get(base, '/readyz')).status === 200 ? true : undefined,
    );
    for (let i = 0; i < RUNS; i++) {
      progress(`${label}: cold start ${i + 1}/${RUNS}, waiting for zero replicas`);
      await until('the function to scale to zero', 20_000, async () =>
        (await replicasOf(base)) === 0 ? true : undefined,
      );
      // A Python function's machine keeps two pools: runtime-node's and runtime-python's.
      if (poolSize > 0)
        await until('the pool to refill', 20_000, async () =>
          idleRuntimes(local.pid as number) >= poolSize * (python ? 2 : 1) ? true : undefined,
        );
      const started = performance.now();
      const reply = await get(base, '/function/cold?name=Ada');
      const took = performance.now() - started;
      if (reply.status !== 200 || reply.headers['x-nimbus-cold-start'] !== 'true') {
        throw new Error(
          `${label}, cold request ${i + 1}: ${reply.status}, cold-start header ${reply.headers['x-nimbus-cold-start']}: ${reply.body}`,
        );
      }
      samples.push(took);
      if (baseline !== undefined)
        baseline.push(await coldStart(children, python ? barePython : bareServer, '/'));
    }
  } finally {
    await children.stopAll();
    await rm(dir, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
  return samples;
}

/** Runtime processes local mode runs that serve no function: its child processes while the function is at zero. */
function idleRuntimes(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children === '' ? 0 : children.split(/\s+/).length;
  } catch {
    return 0;
  }
}

const POOL_SIZE = 2;

async function run(children: Children): Promise<BenchReport> {
  const baseline: number[] = [];
  const noPool = await series(children, 0, baseline);
  const pool = await series(children, POOL_SIZE);
  const pythonBaseline: number[] = [];
  const pythonNoPool = await series(children, 0, pythonBaseline, true);
  const pythonPool = await series(children, POOL_SIZE, undefined, true);
  const cluster = await clusterColdStarts(CLUSTER_RUNS);
  const clusterPool = await clusterColdStarts(CLUSTER_RUNS, true);
  const real = await realNodeColdStarts(CLUSTER_RUNS);
  const p50 = (values: number[]) => round(percentile(values, 50));
  const realFigures =
    'skipped' in real
      ? { real_node_skipped: real.skipped }
      : {
          real_node_p50_ms_pool: p50(real.poolMs),
          real_node_p99_ms_pool: round(percentile(real.poolMs, 99)),
          real_node_p50_ms_new_pod: p50(real.newPodMs),
          real_node_p99_ms_new_pod: round(percentile(real.newPodMs, 99)),
          pass_real_node_p50_pool: percentile(real.poolMs, 50) <= COLDSTART_TARGETS.maxP50MsClusterPool,
          pass_real_node_p50_new_pod:
            percentile(real.newPodMs, 50) <= COLDSTART_TARGETS.maxP50MsRealNodeNewPod,
          real_node_pool_ms: real.poolMs.map(round),
          real_node_new_pod_ms: real.newPodMs.map(round),
        };
  const result = {
    runs: RUNS,
    pool_size: POOL_SIZE,
    p50_ms_no_pool: round(percentile(noPool, 50)),
    p99_ms_no_pool: round(percentile(noPool, 99)),
    p50_ms_pool: round(percentile(pool, 50)),
    p99_ms_pool: round(percentile(pool, 99)),
    baseline_p50_ms: round(percentile(baseline, 50)),
    baseline_p99_ms: round(percentile(baseline, 99)),
    ratio_no_pool_to_baseline: round(percentile(noPool, 50) / percentile(baseline, 50)),
    ratio_pool_to_baseline: round(percentile(pool, 50) / percentile(baseline, 50)),
    pass_p50_no_pool: percentile(noPool, 50) <= COLDSTART_TARGETS.maxP50MsNoPool,
    python_p50_ms_no_pool: round(percentile(pythonNoPool, 50)),
    python_p99_ms_no_pool: round(percentile(pythonNoPool, 99)),
    python_baseline_p50_ms: round(percentile(pythonBaseline, 50)),
    python_baseline_p99_ms: round(percentile(pythonBaseline, 99)),
    ratio_python_no_pool_to_baseline: round(percentile(pythonNoPool, 50) / percentile(pythonBaseline, 50)),
    pass_python_ratio_no_pool:
      percentile(pythonNoPool, 50) / percentile(pythonBaseline, 50) <= COLDSTART_TARGETS.maxPythonRatioNoPool,
    python_p50_ms_pool: round(percentile(pythonPool, 50)),
    python_p99_ms_pool: round(percentile(pythonPool, 99)),
    pass_python_p50_pool: percentile(pythonPool, 50) <= COLDSTART_TARGETS.maxPythonP50MsPool,
    pass_p50_pool: percentile(pool, 50) <= COLDSTART_TARGETS.maxP50MsPool,
    cluster_runs: CLUSTER_RUNS,
    p50_ms_wake_to_raised: p50(cluster.wakeToRaisedMs),
    p50_ms_controller_wake: p50(cluster.controllerWakeMs),
    p50_ms_endpoint_ready_to_forwarded: p50(cluster.endpointReadyToForwardedMs),
    p50_ms_cluster_request_to_response: p50(cluster.requestToResponseMs),
    p99_ms_cluster_request_to_response: round(percentile(cluster.requestToResponseMs, 99)),
    p50_ms_cluster_pool: p50(clusterPool.requestToResponseMs),
    p99_ms_cluster_pool: round(percentile(clusterPool.requestToResponseMs, 99)),
    p50_ms_cluster_pool_controller_wake: p50(clusterPool.controllerWakeMs),
    p50_ms_cluster_pool_wake_answer: p50(clusterPool.wakeToRaisedMs),
    p50_ms_cluster_pool_endpoint_ready_to_forwarded: p50(clusterPool.endpointReadyToForwardedMs),
    pass_p50_cluster_pool:
      percentile(clusterPool.requestToResponseMs, 50) <= COLDSTART_TARGETS.maxP50MsClusterPool,
    cluster_pool_early_endpoints: clusterPool.early,
    cluster_early_endpoints: cluster.early,
    ...realFigures,
    pass_p50_wake_to_raised: percentile(cluster.wakeToRaisedMs, 50) <= COLDSTART_TARGETS.maxP50MsWakeToRaised,
    pass_p50_endpoint_ready_to_forwarded:
      percentile(cluster.endpointReadyToForwardedMs, 50) <=
      COLDSTART_TARGETS.maxP50MsEndpointReadyToForwarded,
    targets: COLDSTART_TARGETS,
    cluster_wake_to_raised_ms: cluster.wakeToRaisedMs.map(round),
    cluster_endpoint_ready_to_forwarded_ms: cluster.endpointReadyToForwardedMs.map(round),
    cluster_request_to_response_ms: cluster.requestToResponseMs.map(round),
    cluster_pool_ms: clusterPool.requestToResponseMs.map(round),
    cluster_pool_endpoint_ready_to_forwarded_ms: clusterPool.endpointReadyToForwardedMs.map(round),
    no_pool_ms: noPool.map(round),
    pool_ms: pool.map(round),
    baseline_ms: baseline.map(round),
    python_no_pool_ms: pythonNoPool.map(round),
    python_pool_ms: pythonPool.map(round),
    python_baseline_ms: pythonBaseline.map(round),
  };
  return { text: render(result), result };
}

const round = (v: number) => Number(v.toFixed(1));

export const coldstartBenchmark: Benchmark = {
  name: 'coldstart',
  description:
    'a function at zero: local mode from request to response (against spawning bare node), the wake and release on the API-server harness, and request to response on a real node (as root)',
  limitMs: 20 * 60_000,
  run,
};
