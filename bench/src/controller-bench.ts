import { fileURLToPath } from 'node:url';
import { createLogger } from '@nimbus/api';
import { Informer, KubeClient, type KubeObject, RESOURCES, loadKubeConfig } from '@nimbus/kube';
import { ControlPlane } from '@nimbus/test/harness/control-plane/control-plane';
import { freshNamespace, installFunctionCrd } from '@nimbus/test/harness/control-plane/shared';
import { freePort } from '@nimbus/testkit';
import { IN_FLIGHT, expectCreated, inFlight } from './api-writes.js';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { cpuSeconds, peakRssMib } from './proc-stats.js';
import { type Children, cpuProfileFlags, stopGently } from './processes.js';
import { round } from './stats.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

/** Functions created; NIMBUS_BENCH_FUNCTIONS sets another count (the 2,000 and 5,000). */
const FUNCTIONS = functionCount(process.env.NIMBUS_BENCH_FUNCTIONS);
const CONVERGE_DEADLINE_MS = 180_000;
const POLL_MS = 100;

function functionCount(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 500;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 20_000)
    throw new Error(
      `NIMBUS_BENCH_FUNCTIONS must be a whole number from 1 to 20000, got ${JSON.stringify(raw)}`,
    );
  return n;
}

type Watched = KubeObject & { metadata: { generation?: number }; status?: { observedGeneration?: number } };

/**
 * Counts, from watches, the Functions whose status has caught up with their generation and the
 * Deployments there are. Watches rather than lists: listing thousands of objects ten times a
 * second loads the API server the controller is measured against, more with every object.
 */
class Convergence {
  private readonly quiet = createLogger({}, 'error', () => {});
  private readonly functions: Informer<Watched>;
  private readonly deployments: Informer<Watched>;

  constructor(kubeconfigPath: string, namespace: string) {
    const client = new KubeClient(loadKubeConfig({ KUBECONFIG: kubeconfigPath }));
    this.functions = new Informer<Watched>(client, { resource: RESOURCES.functions, namespace }, this.quiet);
    this.deployments = new Informer<Watched>(
      client,
      { resource: RESOURCES.deployments, namespace },
      this.quiet,
    );
  }

  async start(): Promise<void> {
    this.functions.start();
    this.deployments.start();
    await Promise.all([this.functions.synced(), this.deployments.synced()]);
  }

  converged(count: number): boolean {
    if (this.deployments.list().length !== count) return false;
    const fns = this.functions.list();
    return fns.length === count && fns.every((f) => f.status?.observedGeneration === f.metadata.generation);
  }

  async stop(): Promise<void> {
    await Promise.all([this.functions.stop(), this.deployments.stop()]);
  }
}
export const CONTROLLER_TARGETS = { maxConvergeS: 60, maxPeakRssMib: 200 } as const;

const MAIN = fileURLToPath(new URL('../../../controller/dist/src/cluster/main.js', import.meta.url));

const fnDoc = (i: number) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name: `fn-${i}` },
  spec: { source: { inline: `export default () => "hello from ${i}"` } },
});

/**
 * The baseline: the same ConfigMap, Deployment and Service for each of 500 names, created
 * directly by this process with the same number of requests in flight. The controller cannot
 * converge faster than the API server stores its objects; the ratio says how close it comes.
 */
async function directCreates(plane: ControlPlane, namespace: string): Promise<number> {
  const started = performance.now();
  await inFlight(0, FUNCTIONS, async (i) => {
    const name = `direct-${i}`;
    const labels = { 'nimbus.dev/function': name };
    await expectCreated(plane, `/api/v1/namespaces/${namespace}/configmaps`, {
      metadata: { name: `${name}-source`, labels },
      data: { 'index.mjs': `export default () => "hello from ${i}"` },
    });
    await expectCreated(plane, `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'function', image: 'nimbus/runtime-node:bench' }] },
        },
      },
    });
    await expectCreated(plane, `/api/v1/namespaces/${namespace}/services`, {
      metadata: { name, labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
  });
  return (performance.now() - started) / 1000;
}

async function counter(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

async function run(children: Children): Promise<BenchReport> {
  progress('starting etcd and kube-apiserver (the first run on a machine builds them with Go)');
  const plane = await ControlPlane.start((line) => progress(line));
  const killPlane = () => plane.killNow();
  process.once('exit', killPlane);
  try {
    await installFunctionCrd(plane);
    const baselineNs = await freshNamespace(plane, 'bench-direct');
    progress(`baseline: ${FUNCTIONS} × ConfigMap, Deployment and Service created directly`);
    const directS = await directCreates(plane, baselineNs);

    const namespace = await freshNamespace(plane, 'bench-controller');
    const port = await freePort();
    const flags = cpuProfileFlags();
    const controller = children.spawn(process.execPath, [...flags, MAIN], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: plane.kubeconfigPath,
        NIMBUS_WATCH_NAMESPACES: namespace,
        NIMBUS_RUNTIME_IMAGE: 'nimbus/runtime-node:bench',
        NIMBUS_GATEWAY_URL: 'http://nimbus-gateway.nimbus.svc:8080',
        POD_NAMESPACE: namespace,
        POD_NAME: 'bench-controller',
        NIMBUS_METRICS_HOST: '127.0.0.1',
        NIMBUS_METRICS_PORT: String(port),
        NIMBUS_LOG_LEVEL: 'warn',
        // Required since the report and wake endpoints ask for it (issue 11); nothing reports here.
        NIMBUS_REPORT_TOKEN: 'bench-report-token-0123456789abcdef',
        // NIMBUS_BENCH_WORKERS: reconciles in parallel (the controller's own default when unset).
        ...(process.env.NIMBUS_BENCH_WORKERS ? { NIMBUS_WORKERS: process.env.NIMBUS_BENCH_WORKERS } : {}),
      },
      // Its log lines (warnings and worse, JSON on stdout) go to the bench's stderr with the
      // progress, so stdout holds the tables alone.
      stdio: ['ignore', process.stderr, 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    const deadline = performance.now() + 30_000;
    while (
      (await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (performance.now() > deadline || controller.exitCode !== null)
        throw new Error(`the controller did not get ready (exit code ${controller.exitCode})`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const pid = controller.pid as number;
    const rssIdle = await peakRssMib(pid);
    const cpuIdle = await cpuSeconds(pid);

    const convergence = new Convergence(plane.kubeconfigPath, namespace);
    await convergence.start();
    progress(`creating ${FUNCTIONS} Functions`);
    const started = performance.now();
    await inFlight(0, FUNCTIONS, (i) =>
      expectCreated(plane, `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`, fnDoc(i)),
    );
    const createdS = (performance.now() - started) / 1000;
    progress('waiting until every Function has its Deployment and a current observedGeneration');
    let convergeS = Number.NaN;
    try {
      for (;;) {
        const elapsed = performance.now() - started;
        if (elapsed > CONVERGE_DEADLINE_MS)
          throw new Error(`not converged after ${CONVERGE_DEADLINE_MS / 1000} s`);
        if (convergence.converged(FUNCTIONS)) {
          convergeS = elapsed / 1000;
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      await convergence.stop();
    }
    const reconciles = await counter(base, 'nimbus_controller_reconciles_total');
    const errors = await counter(base, 'nimbus_controller_reconcile_errors_total');
    const applies = await counter(base, 'nimbus_controller_applies_total');
    const peak = await peakRssMib(pid);
    const controllerCpuS = (await cpuSeconds(pid)) - cpuIdle;
    if (flags.length > 0) await stopGently(controller);
    const result = {
      functions: FUNCTIONS,
      in_flight: IN_FLIGHT,
      controller_workers: Number(process.env.NIMBUS_BENCH_WORKERS || 4),
      converge_s: round(convergeS, 2),
      create_s: round(createdS, 2),
      baseline_direct_s: round(directS, 2),
      ratio_to_baseline: round(convergeS / directS, 2),
      reconciles,
      reconciles_per_s: round(reconciles / convergeS, 1),
      // How much of the wait was the controller's own work (the rest: the API server and etcd).
      controller_cpu_s: round(controllerCpuS, 1),
      controller_cpu_share: round(controllerCpuS / convergeS, 2),
      reconcile_errors: errors,
      applies,
      idle_rss_mib: round(rssIdle, 1),
      peak_rss_mib: round(peak, 1),
      pass_converge: convergeS <= CONTROLLER_TARGETS.maxConvergeS,
      pass_peak_rss: peak <= CONTROLLER_TARGETS.maxPeakRssMib,
      targets: CONTROLLER_TARGETS,
    };
    return { text: render(result), result };
  } finally {
    await children.stopAll();
    await plane.stop();
    process.off('exit', killPlane);
  }
}

function render(r: {
  functions: number;
  converge_s: number;
  create_s: number;
  baseline_direct_s: number;
  ratio_to_baseline: number;
  reconciles: number;
  reconciles_per_s: number;
  controller_cpu_s: number;
  controller_cpu_share: number;
  reconcile_errors: number;
  applies: number;
  idle_rss_mib: number;
  peak_rss_mib: number;
  pass_converge: boolean;
  pass_peak_rss: boolean;
}): string {
  const figures = formatTable(
    [
      { title: `${r.functions} Functions`, align: 'left' },
      { title: 'value', align: 'right' },
    ],
    [
      ['created by the bench (s)', formatNumber(r.create_s, 2)],
      ['converged: Deployments + observedGeneration (s)', formatNumber(r.converge_s, 2)],
      ['baseline: same objects created directly (s)', formatNumber(r.baseline_direct_s, 2)],
      ['reconciles', String(r.reconciles)],
      ['reconciles/s', formatNumber(r.reconciles_per_s, 1)],
      ['controller CPU while converging (s)', formatNumber(r.controller_cpu_s, 1)],
      ['  as a share of the wait (of 2 cores)', formatNumber(r.controller_cpu_share, 2)],
      ['applies', String(r.applies)],
      ['reconcile errors', String(r.reconcile_errors)],
      ['controller RSS when ready (MiB)', formatNumber(r.idle_rss_mib, 1)],
    ],
  );
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ['converge / direct creates', formatNumber(r.ratio_to_baseline, 2), '', ''],
    [
      'converge s',
      formatNumber(r.converge_s, 2),
      `≤ ${CONTROLLER_TARGETS.maxConvergeS}`,
      verdict(r.pass_converge),
    ],
    [
      'peak RSS MiB',
      formatNumber(r.peak_rss_mib, 1),
      `≤ ${CONTROLLER_TARGETS.maxPeakRssMib}`,
      verdict(r.pass_peak_rss),
    ],
  ]);
  return `${figures}\n\n${verdicts}`;
}

export const controllerBenchmark: Benchmark = {
  name: 'controller',
  description: `${FUNCTIONS} Functions on a real API server: time until all have Deployments and a current observedGeneration, and the controller's peak RSS`,
  // The first run on a machine builds kube-apiserver and etcd with Go.
  limitMs: 45 * 60_000,
  run,
};
