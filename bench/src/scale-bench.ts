import { fileURLToPath } from 'node:url';
import { ControlPlane } from '@nimbus/test/harness/control-plane/control-plane';
import { freshNamespace, installFunctionCrd } from '@nimbus/test/harness/control-plane/shared';
import { PodAddresses } from '@nimbus/test/harness/pod-addresses';
import { freePort } from '@nimbus/testkit';
import { expectCreated, inFlight } from './api-writes.js';
import { type BenchReport, type Benchmark, progress } from './benchmark.js';
import { writeHelloFunction } from './hello-function.js';
import { probe } from './http-probe.js';
import { peakRssMib, residentMib } from './proc-stats.js';
import type { Children } from './processes.js';
import { BURST, WAKES_PER_STEP, renderWakes, summariseWakes, wakesAtScale } from './scale-wakes.js';
import { runtimeReplica, startServer } from './servers.js';
import { percentile, round } from './stats.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';
import { ensureWrk, runWrk } from './wrk.js';

/** The curve's points: Functions in the namespace, each with ENDPOINTS_PER_FUNCTION replicas. */
const STEPS = [10, 500, 2_000, 5_000] as const;
const ENDPOINTS_PER_FUNCTION = 4;
const CATCH_UP_DEADLINE_MS = 180_000;
const POLL_MS = 100;
const INVOKE_S = 4;
const REPORT_TOKEN = 'bench-report-token-0123456789abcdef';
const GATEWAY_MAIN = fileURLToPath(new URL('../../../gateway/dist/src/cluster/main.js', import.meta.url));

/** Issue 14, item 6, the gateway's side: what 5,000 Functions and 20,000 endpoints cost it. */
export const SCALE_TARGETS = Object.freeze({
  maxGatewayRssMib: 200,
  /** Invoke p50 at the largest step over the same at the smallest, at most. */
  maxInvokeP50Ratio: 1.1,
  /** Wake → replicas raised p50 at the largest step over the same at the smallest, at most. */
  maxWakeP50Ratio: 1.1,
  /** The slowest of BURST Functions woken at once answers within this, p99. */
  maxBurstP99Ms: 2000,
});

interface Step {
  readonly functions: number;
  readonly endpoints: number;
  /** From the step's first create to the gateway routing a Function created after all the rest. */
  readonly catchUpS: number;
  readonly gatewayRssMib: number;
  readonly invokeP50Us: number;
  readonly invokeP99Us: number;
  readonly invokeRequests: number;
}

const fnDoc = (name: string) => ({
  apiVersion: 'nimbus.dev/v1alpha1',
  kind: 'Function',
  metadata: { name },
  spec: { source: { inline: `export default () => "hello from ${name}"` } },
});

/**
 * A function's EndpointSlice as the EndpointSlice controller would write it, labelled so the
 * gateway watches it. `addresses` are ready replicas on port `port`.
 */
const sliceDoc = (fn: string, addresses: readonly string[], port: number) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: `${fn}-bench`,
    labels: {
      'kubernetes.io/service-name': fn,
      'app.kubernetes.io/managed-by': 'nimbus',
      'endpointslice.kubernetes.io/managed-by': 'bench.nimbus.dev',
    },
  },
  addressType: 'IPv4',
  endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  ports: [{ name: 'http', port, protocol: 'TCP' }],
});

/** Addresses no packet is ever sent to: the gateway only holds them (10.245-248.x.y, off every interface). */
const idleAddresses = (i: number) =>
  Array.from({ length: ENDPOINTS_PER_FUNCTION }, (_, j) => `10.${245 + j}.${(i >> 8) & 255}.${i & 255}`);

async function run(children: Children): Promise<BenchReport> {
  const gateway = await gatewayAtScale(children);
  const newPods = summariseWakes(await wakesAtScale(STEPS));
  const pooled = summariseWakes(await wakesAtScale([STEPS[0], STEPS.at(-1) as number], BURST));
  const result = {
    ...gateway,
    wakes_new_pods: newPods,
    wakes_pool: pooled,
    pass_wake_p50:
      newPods.wake_to_raised_p50_ratio <= SCALE_TARGETS.maxWakeP50Ratio &&
      pooled.wake_to_raised_p50_ratio <= SCALE_TARGETS.maxWakeP50Ratio,
    pass_burst: pooled.burst_failed === 0 && pooled.burst_p99_ms <= SCALE_TARGETS.maxBurstP99Ms,
  };
  const wakes = renderWakes(newPods, pooled, SCALE_TARGETS, result.pass_wake_p50, result.pass_burst);
  return { text: `${render(result)}\n\n${wakes}`, result };
}

async function gatewayAtScale(children: Children) {
  await ensureWrk(children, 90_000);
  progress('starting etcd and kube-apiserver (the first run on a machine builds them with Go)');
  const plane = await ControlPlane.start((line) => progress(line));
  const killPlane = () => plane.killNow();
  process.once('exit', killPlane);
  const addresses = await PodAddresses.open();
  const fn = await writeHelloFunction();
  try {
    await installFunctionCrd(plane);
    const namespace = await freshNamespace(plane, 'bench-scale');
    const functions = `/apis/nimbus.dev/v1alpha1/namespaces/${namespace}/functions`;
    const slices = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;

    // The one replica that answers: a runtime-node process on a pod address of its own, as in a cluster.
    const hotAddress = await addresses.claim();
    const replica = await startServer(children, {
      ...runtimeReplica(fn.dir, 8080),
      env: { ...runtimeReplica(fn.dir, 8080).env, HOST: hotAddress },
    });
    const port = await freePort();
    const gateway = children.spawn(process.execPath, [GATEWAY_MAIN], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: plane.kubeconfigPath,
        NIMBUS_WATCH_NAMESPACES: namespace,
        NIMBUS_REPORT_TOKEN: REPORT_TOKEN,
        HOST: '127.0.0.1',
        PORT: String(port),
        NIMBUS_LOG_LEVEL: 'warn',
        NIMBUS_SHUTDOWN_DELAY_MS: '0',
      },
      stdio: ['ignore', process.stderr, 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    await until(
      async () => (await probe(`${base}/readyz`, 2_000).catch(() => undefined))?.status === 200,
      30_000,
      () => `the gateway did not get ready (exit code ${gateway.exitCode})`,
    );
    const pid = gateway.pid as number;
    const idleRss = await residentMib(pid);

    await expectCreated(plane, functions, fnDoc('hot'));
    await expectCreated(plane, slices, sliceDoc('hot', [hotAddress], replica.port));
    const steps: Step[] = [];
    let made = 0;
    for (const target of STEPS) {
      progress(`${target} Functions, ${target * ENDPOINTS_PER_FUNCTION} endpoints`);
      const started = performance.now();
      await inFlight(made, target, async (i) => {
        await expectCreated(plane, functions, fnDoc(`fn-${i}`));
        await expectCreated(plane, slices, sliceDoc(`fn-${i}`, idleAddresses(i), 8080));
      });
      made = target;
      // Created after every other object of the step: once the gateway routes it, it has seen them all.
      const marker = `mark-${target}`;
      await expectCreated(plane, functions, fnDoc(marker));
      await expectCreated(plane, slices, sliceDoc(marker, [hotAddress], replica.port));
      await until(
        async () =>
          (await probe(`${base}/function/${marker}.${namespace}`, 2_000).catch(() => undefined))?.status ===
          200,
        CATCH_UP_DEADLINE_MS,
        () => `the gateway did not route ${marker} within ${CATCH_UP_DEADLINE_MS / 1000} s`,
      );
      const catchUpS = (performance.now() - started) / 1000;
      const load = { url: `${base}/function/hot.${namespace}`, threads: 1, connections: 1 };
      await runWrk(children, { ...load, durationS: 1 });
      const invoke = await runWrk(children, { ...load, durationS: INVOKE_S });
      steps.push({
        functions: target,
        endpoints: target * ENDPOINTS_PER_FUNCTION,
        catchUpS,
        gatewayRssMib: await residentMib(pid),
        invokeP50Us: invoke.p50Us,
        invokeP99Us: invoke.p99Us,
        invokeRequests: invoke.requests,
      });
    }
    const peak = await peakRssMib(pid);
    const first = steps[0] as Step;
    const last = steps.at(-1) as Step;
    const result = {
      steps,
      gateway_idle_rss_mib: round(idleRss),
      gateway_peak_rss_mib: round(peak),
      invoke_p50_ratio: round(last.invokeP50Us / first.invokeP50Us),
      pass_gateway_rss: peak <= SCALE_TARGETS.maxGatewayRssMib,
      pass_invoke_p50: last.invokeP50Us / first.invokeP50Us <= SCALE_TARGETS.maxInvokeP50Ratio,
      targets: SCALE_TARGETS,
      setup: `gateway: kube-apiserver and etcd on loopback; the cluster gateway (gateway/dist/src/cluster/main.js) in its own process watching one namespace; each Function with an EndpointSlice of ${ENDPOINTS_PER_FUNCTION} ready endpoints (addresses never dialled) written by the bench, and one runtime-node replica on a pod address answering /function/hot; invoke latency from wrk, 1 connection, ${INVOKE_S} s. wakes: a second control plane with kube-controller-manager, the pod runner, a controller and a gateway in the bench's process, every Function at zero (min 0, initial scale 0); at each step ${WAKES_PER_STEP} first wakes one after another, each through a new pod (no warm pool), and at the last a burst of ${BURST} Functions woken at once`,
    };
    return result;
  } finally {
    await children.stopAll();
    await plane.stop();
    process.off('exit', killPlane);
    await addresses.releaseAll();
    await fn.remove();
  }
}

/** Polls `check` until it holds; fails with `why()` at the deadline. */
async function until(check: () => Promise<boolean>, withinMs: number, why: () => string): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(why());
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function render(r: {
  steps: readonly Step[];
  gateway_idle_rss_mib: number;
  gateway_peak_rss_mib: number;
  invoke_p50_ratio: number;
  pass_gateway_rss: boolean;
  pass_invoke_p50: boolean;
}): string {
  const curve = formatTable(
    [
      { title: 'Functions', align: 'right' },
      { title: 'endpoints', align: 'right' },
      { title: 'gateway caught up s', align: 'right' },
      { title: 'gateway RSS MiB', align: 'right' },
      { title: 'invoke p50 µs', align: 'right' },
      { title: 'invoke p99 µs', align: 'right' },
    ],
    r.steps.map((s) => [
      formatNumber(s.functions, 0),
      formatNumber(s.endpoints, 0),
      formatNumber(s.catchUpS, 2),
      formatNumber(s.gatewayRssMib, 1),
      formatNumber(s.invokeP50Us, 0),
      formatNumber(s.invokeP99Us, 0),
    ]),
  );
  const p50s = r.steps.map((s) => s.invokeP50Us);
  const verdicts = formatTable(VERDICT_COLUMNS, [
    ['gateway RSS when ready, no Functions (MiB)', formatNumber(r.gateway_idle_rss_mib, 1), '', ''],
    [
      'gateway peak RSS MiB',
      formatNumber(r.gateway_peak_rss_mib, 1),
      `≤ ${SCALE_TARGETS.maxGatewayRssMib}`,
      verdict(r.pass_gateway_rss),
    ],
    [
      `invoke p50 at ${STEPS.at(-1)} / at ${STEPS[0]}`,
      formatNumber(r.invoke_p50_ratio, 2),
      `≤ ${SCALE_TARGETS.maxInvokeP50Ratio}`,
      verdict(r.pass_invoke_p50),
    ],
    ['invoke p50 median over the steps µs', formatNumber(percentile(p50s, 50), 0), '', ''],
  ]);
  return `${curve}\n\n${verdicts}`;
}

export const scaleBenchmark: Benchmark = {
  name: 'scale',
  description: `${STEPS.join(', ')} Functions: the cluster gateway's RSS, catch-up and invoke p50 with ${ENDPOINTS_PER_FUNCTION} endpoints each; wake p50 at each step and a burst of ${BURST} wakes`,
  limitMs: 1_800_000,
  run,
};
