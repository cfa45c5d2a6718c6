import { ScalingCluster, TIMED_SOURCE } from '@nimbus/test/harness/scaling-cluster';
import { eventually, send } from '@nimbus/testkit';
import { expectCreated, inFlight } from './api-writes.js';
import { progress } from './benchmark.js';
import { sumMs } from './cluster-coldstart.js';
import { busyShare, machineTicks } from './proc-stats.js';
import { percentile, round } from './stats.js';
import { VERDICT_COLUMNS, formatNumber, formatTable, verdict } from './table.js';

/** Functions woken one after another at each step, each from zero for the first time. */
export const WAKES_PER_STEP = 7;
/** Functions woken at once at the last step: Knative's scale test allows 25 s for 100. */
export const BURST = 100;
const CONVERGE_DEADLINE_MS = 900_000;
const POLL_MS = 1000;
/** The share of the machine's CPU under which it counts as quiet enough to time a wake. */
const QUIET_BUSY = 0.3;
/** Longer than any wake here takes, so the burst's slowest answer is measured, not cut off. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface WakeStep {
  readonly functions: number;
  /** From the step's first create to every Function having its Deployment, ReplicaSet and EndpointSlice. */
  readonly convergedS: number;
  /** From then until the machine was quiet, when the wakes began. */
  readonly settledS: number;
  /** Gateway sends the wake → the leader answers that the scale is written, one per wake. */
  readonly wakeToRaisedMs: readonly number[];
  /** Request at zero → response through a new pod, one per wake. */
  readonly requestToResponseMs: readonly number[];
}

export interface WakeBurst {
  readonly functions: number;
  readonly size: number;
  /** Request at zero → response, one per Function of the burst, in the order they answered. */
  readonly requestToResponseMs: readonly number[];
  readonly failures: readonly string[];
  /** The share of the machine's CPU (every core) busy from the first request to the last answer. */
  readonly machineBusy: number;
}

export interface WakesAtScale {
  readonly poolSize: number;
  readonly steps: readonly WakeStep[];
  readonly burst: WakeBurst;
}

const spec = { handler: 'index.handle', source: { inline: TIMED_SOURCE }, scale: { min: 0 } };

/** The `_sum` of the gateway's wake histogram, in milliseconds. */
const wakeSumMs = (cluster: ScalingCluster) => sumMs(cluster.gatewayRegistry, 'nimbus_gateway_wake_seconds');

/**
 * Wakes from zero on the API-server harness (kube-controller-manager, the pod runner, a controller
 * and a gateway) with `steps` Functions at zero beside the ones woken: at each step
 * WAKES_PER_STEP first wakes one after another, and at the last a burst of BURST Functions
 * woken by one request each, all at once. With `poolSize` 0 every woken Function gets a new pod;
 * above, the controller keeps that many warm-pool pods, and each wake (and the burst) starts once
 * the pool has as many ready as it will take over.
 */
export async function wakesAtScale(steps: readonly number[], poolSize = 0): Promise<WakesAtScale> {
  progress(
    `starting etcd, kube-apiserver, kube-controller-manager, the pod runner, a controller${poolSize > 0 ? ` with a warm pool of ${poolSize}` : ''} and a gateway`,
  );
  const cluster = await ScalingCluster.start(
    { NIMBUS_AUTOSCALER_INITIAL_SCALE: '0', NIMBUS_WARM_POOL_SIZE: String(poolSize) },
    poolSize > 0 ? 'bench-pool-wakes' : 'bench-wakes',
  );
  const poolReady = async (count: number) => {
    if (poolSize === 0) return;
    await eventually(
      async () => ((await cluster.readyPoolPods()).length >= count ? true : undefined),
      CONVERGE_DEADLINE_MS,
      `${count} ready pool pods`,
    );
  };
  const path = `/apis/nimbus.dev/v1alpha1/namespaces/${cluster.namespace}/functions`;
  const create = (name: string) =>
    expectCreated(cluster.plane, path, {
      apiVersion: 'nimbus.dev/v1alpha1',
      kind: 'Function',
      metadata: { name },
      spec,
    });
  const last = steps.at(-1) ?? 0;
  const out: WakeStep[] = [];
  let burst: WakeBurst | undefined;
  let made = 0;
  try {
    for (const target of steps) {
      progress(`wakes with ${target} Functions at zero`);
      const started = performance.now();
      await inFlight(made, target, (i) => create(`bg-${i}`));
      made = target;
      const woken = Array.from({ length: WAKES_PER_STEP }, (_, k) => `wake-${target}-${k}`);
      const bursting = target === last ? Array.from({ length: BURST }, (_, k) => `burst-${k}`) : [];
      const named = [...woken, ...bursting];
      await inFlight(0, named.length, (i) => create(named[i] as string));
      const total = made + out.length * WAKES_PER_STEP + named.length;
      const { convergedAt } = await untilConverged(cluster, total, named);
      const convergedS = (convergedAt - started) / 1000;
      const settledS = (performance.now() - convergedAt) / 1000;
      const wakeToRaisedMs: number[] = [];
      const requestToResponseMs: number[] = [];
      for (const name of woken) {
        await poolReady(1);
        const before = await wakeSumMs(cluster);
        const sent = performance.now();
        const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}`, {
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        const took = performance.now() - sent;
        if (reply.status !== 200 || reply.headers['x-nimbus-cold-start'] !== 'true')
          throw new Error(
            `${name}: ${reply.status}, cold start ${reply.headers['x-nimbus-cold-start']}: ${reply.text}`,
          );
        requestToResponseMs.push(took);
        wakeToRaisedMs.push((await wakeSumMs(cluster)) - before);
      }
      out.push({ functions: target, convergedS, settledS, wakeToRaisedMs, requestToResponseMs });
      progress(
        `${target}: converged in ${convergedS.toFixed(1)} s; wake → raised p50 ${percentile(wakeToRaisedMs, 50).toFixed(1)} ms, request → response p50 ${percentile(requestToResponseMs, 50).toFixed(0)} ms`,
      );
      if (bursting.length > 0) {
        await poolReady(Math.min(poolSize, bursting.length));
        burst = await wakeAll(cluster, target, bursting);
      }
    }
  } finally {
    await cluster.stop();
  }
  if (burst === undefined) throw new Error('no step ran the burst');
  return { poolSize, steps: out, burst };
}

/** One request to each of `names`, all at once, each at zero. */
async function wakeAll(
  cluster: ScalingCluster,
  functions: number,
  names: readonly string[],
): Promise<WakeBurst> {
  progress(`a burst of ${names.length} Functions woken at once, with ${functions} more at zero`);
  const requestToResponseMs: number[] = [];
  const failures: string[] = [];
  const before = await machineTicks();
  await Promise.all(
    names.map(async (name) => {
      const sent = performance.now();
      try {
        const reply = await send(cluster.gatewayBase, `/function/${name}.${cluster.namespace}`, {
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        if (reply.status !== 200) failures.push(`${name}: ${reply.status} ${reply.text.slice(0, 200)}`);
        else requestToResponseMs.push(performance.now() - sent);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }),
  );
  const machineBusy = round(busyShare(before, await machineTicks()));
  if (requestToResponseMs.length > 0)
    progress(
      `burst: p50 ${percentile(requestToResponseMs, 50).toFixed(0)} ms, p99 ${percentile(requestToResponseMs, 99).toFixed(0)} ms, ${failures.length} failed, CPU ${(machineBusy * 100).toFixed(0)}% busy`,
    );
  return { functions, size: names.length, requestToResponseMs, failures, machineBusy };
}

/**
 * Until every Function has its Deployment, ReplicaSet and EndpointSlice (kube-controller-manager
 * has caught up), the gateway routes every one of `names`, all of them at zero, and then the
 * machine has had a second under QUIET_BUSY: a wake measured while the control plane still
 * writes thousands of objects measures that work, not the wake. Counts come from one-item pages'
 * remainingItemCount: listing thousands of objects every second would be a load of its own.
 */
async function untilConverged(
  cluster: ScalingCluster,
  count: number,
  names: readonly string[],
): Promise<{ convergedAt: number }> {
  const deadline = performance.now() + CONVERGE_DEADLINE_MS;
  const counts = () =>
    Promise.all(
      [
        ['apps/v1', 'deployments'],
        ['apps/v1', 'replicasets'],
        ['discovery.k8s.io/v1', 'endpointslices'],
      ].map(async ([group, resource]) => {
        const page = await cluster.plane.request<{
          items?: unknown[];
          metadata?: { remainingItemCount?: number };
        }>('GET', `/apis/${group}/namespaces/${cluster.namespace}/${resource}?limit=1`);
        return (page.body.items?.length ?? 0) + (page.body.metadata?.remainingItemCount ?? 0);
      }),
    );
  for (;;) {
    const seen = await counts();
    if (
      seen.every((n) => n >= count) &&
      names.every((name) => cluster.routes.get(cluster.namespace, name) !== undefined)
    ) {
      const scales = await Promise.all(names.map((name) => cluster.deployment(name)));
      if (scales.every((d) => d?.spec?.replicas === 0)) break;
    }
    if (performance.now() > deadline)
      throw new Error(
        `Deployments, ReplicaSets, EndpointSlices ${seen.join(', ')} of ${count} after ${CONVERGE_DEADLINE_MS / 1000} s`,
      );
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const convergedAt = performance.now();
  for (;;) {
    const before = await machineTicks();
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (busyShare(before, await machineTicks()) < QUIET_BUSY) break;
    if (performance.now() > deadline)
      throw new Error(`the machine was not quiet within ${CONVERGE_DEADLINE_MS / 1000} s`);
  }
  return { convergedAt };
}

/** The raw wakes with the ratios and the burst's p99 beside them, as the JSON keeps them. */
export interface WakeSummary extends Omit<WakesAtScale, 'poolSize'> {
  readonly pool_size: number;
  /** Wake → raised p50 at the last step over the same at the first. */
  readonly wake_to_raised_p50_ratio: number;
  /** Request at zero → response p50 at the last step over the same at the first. */
  readonly wake_response_p50_ratio: number;
  readonly burst_p50_ms: number;
  readonly burst_p99_ms: number;
  readonly burst_failed: number;
}

export function summariseWakes(wakes: WakesAtScale): WakeSummary {
  const first = wakes.steps[0] as WakeStep;
  const last = wakes.steps.at(-1) as WakeStep;
  const p50 = (samples: readonly number[]) => percentile(samples, 50);
  const answered = wakes.burst.requestToResponseMs;
  return {
    steps: wakes.steps,
    burst: wakes.burst,
    pool_size: wakes.poolSize,
    wake_to_raised_p50_ratio: round(p50(last.wakeToRaisedMs) / p50(first.wakeToRaisedMs)),
    wake_response_p50_ratio: round(p50(last.requestToResponseMs) / p50(first.requestToResponseMs)),
    burst_p50_ms: answered.length === 0 ? Number.NaN : round(p50(answered)),
    burst_p99_ms: answered.length === 0 ? Number.NaN : round(percentile(answered, 99)),
    burst_failed: wakes.burst.failures.length,
  };
}

/** The wake curves (new pods, then the pool) and their verdicts. */
export function renderWakes(
  newPods: WakeSummary,
  pooled: WakeSummary,
  targets: { maxWakeP50Ratio: number; maxBurstP99Ms: number },
  passWake: boolean,
  passBurst: boolean,
): string {
  const rows = [newPods, pooled].flatMap((w) =>
    w.steps.map((s) => [
      w.pool_size === 0 ? 'new pod' : `pool of ${w.pool_size}`,
      formatNumber(s.functions, 0),
      formatNumber(s.convergedS, 1),
      formatNumber(s.settledS, 1),
      formatNumber(percentile(s.wakeToRaisedMs, 50), 1),
      formatNumber(percentile(s.requestToResponseMs, 50), 0),
    ]),
  );
  const curve = formatTable(
    [
      { title: 'wake through', align: 'left' },
      { title: 'Functions at zero', align: 'right' },
      { title: 'converged s', align: 'right' },
      { title: 'then quiet s', align: 'right' },
      { title: 'wake → raised p50 ms', align: 'right' },
      { title: 'request at zero → response p50 ms', align: 'right' },
    ],
    rows,
  );
  const burstRow = (w: WakeSummary, target: string, pass: string) => [
    `${w.burst.size} woken at once through ${w.pool_size === 0 ? 'new pods' : `a pool of ${w.pool_size}`} (${w.burst.functions} more at zero; CPU ${(w.burst.machineBusy * 100).toFixed(0)}% busy), p99 ms${w.burst_failed > 0 ? `, ${w.burst_failed} failed` : ''}`,
    formatNumber(w.burst_p99_ms, 0),
    target,
    pass,
  ];
  const verdicts = formatTable(VERDICT_COLUMNS, [
    [
      `wake → raised p50, last step / first: new pods ${formatNumber(newPods.wake_to_raised_p50_ratio, 2)}, pool`,
      formatNumber(pooled.wake_to_raised_p50_ratio, 2),
      `≤ ${targets.maxWakeP50Ratio} (both)`,
      verdict(passWake),
    ],
    [
      'request at zero → response p50, last step / first, new pods',
      formatNumber(newPods.wake_response_p50_ratio, 2),
      '',
      '',
    ],
    ['the same through the pool', formatNumber(pooled.wake_response_p50_ratio, 2), '', ''],
    burstRow(newPods, '(Knative allows 25 s)', ''),
    burstRow(pooled, `≤ ${targets.maxBurstP99Ms}`, verdict(passBurst)),
  ]);
  return `${curve}\n\n${verdicts}`;
}
