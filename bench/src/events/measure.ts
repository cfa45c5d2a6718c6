import { progress } from '../benchmark.js';
import { busyShare, cpuSeconds, machineTicks } from '../proc-stats.js';
import { distribution } from '../stats.js';
import { treeCpuSeconds } from './cpu.js';
import { type Driven, drive } from './drive.js';
import type { LocalGateway } from './local-gateway.js';
import { type PhaseView, recorded } from './recorder.js';
import type { SourceDriver } from './source-driver.js';

export const PACED_RATE_PER_S = 200;
const PACED_SECONDS = 10;
/** After the last publish, the events still on their way must arrive within this, or count as missing. */
const DELIVERY_DEADLINE_MS = 60_000;
const WARM_UP_DEADLINE_MS = 60_000;
const POLL_MS = 100;

/** CPU µs per event: the local-mode process (gateway and readers), its replicas, nats-server, the origin's server. */
export interface CpuPerEvent {
  readonly gateway: number;
  readonly replicas: number;
  readonly nats: number;
  /** Null when the gateway is the origin (webhooks). */
  readonly origin: number | null;
}

/** The processes whose CPU a phase is charged with. */
export interface Pids {
  readonly gateway: number;
  readonly nats: number;
  readonly origin: number | undefined;
}

async function cpuNow(pids: Pids): Promise<[number, number, number, number]> {
  const [gateway, tree, nats, origin] = await Promise.all([
    cpuSeconds(pids.gateway),
    treeCpuSeconds(pids.gateway),
    treeCpuSeconds(pids.nats),
    pids.origin === undefined || pids.origin === pids.nats ? 0 : treeCpuSeconds(pids.origin),
  ]);
  return [gateway, tree - gateway, nats, origin];
}

function cpuPerEvent(before: number[], after: number[], events: number, pids: Pids): CpuPerEvent {
  const us = (i: number) => (((after[i] ?? 0) - (before[i] ?? 0)) * 1e6) / Math.max(1, events);
  const origin = pids.origin === undefined ? null : pids.origin === pids.nats ? us(2) : us(3);
  return { gateway: us(0), replicas: us(1), nats: us(2), origin };
}

export interface Latencies {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** What one source came to: the saturation phase, its baseline, and the paced phase. */
export interface SourceResult {
  readonly source: string;
  readonly origin: string;
  readonly baseline: string;
  readonly saturation: {
    readonly events: number;
    readonly sent: number;
    readonly failed: number;
    readonly delivered: number;
    readonly duplicates: number;
    /** Delivered events over the time from the first publish (or a backlog's release) to the last handler start. */
    readonly eventsPerS: number;
    readonly publishedPerS: number;
    readonly latencyMs: Latencies | null;
    /** CPU per delivered event over the phase, by process: where the time goes. */
    readonly cpuUsPerEvent: CpuPerEvent;
    /** The machine's busy share over the phase, every core and every process. */
    readonly machineBusy: number;
    readonly firstError?: string;
  };
  readonly baselinePerS: number | null;
  readonly baselineError?: string;
  readonly paced: {
    /** The rate asked for: PACED_RATE_PER_S, or the driver's own when its origin is slower. */
    readonly ratePerS: number;
    readonly sent: number;
    readonly offeredPerS: number;
    /** Publish to the origin's ack: the part of the latency that is the origin's own. */
    readonly publishMs: Latencies | null;
    readonly delivered: number;
    readonly latencyMs: Latencies | null;
    /** Every event's latency in arrival order, to see when the slow ones came. */
    readonly samplesMs: readonly number[];
    readonly firstError?: string;
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function latencies(samples: readonly number[] | undefined): Latencies | null {
  if (samples === undefined || samples.length === 0) return null;
  return distribution(samples, 50, 99);
}

/** Polls the recorder until `target` distinct events of `phase` arrived or the deadline passed; the last view. */
async function delivered(
  url: string,
  fn: string,
  phase: string,
  target: number,
  ms: number,
): Promise<PhaseView> {
  const deadline = Date.now() + ms;
  for (;;) {
    const view = (await recorded(url, fn))[phase];
    if ((view?.unique ?? 0) >= target || Date.now() > deadline)
      return view ?? { count: 0, unique: 0, first: 0, last: 0 };
    await pause(POLL_MS);
  }
}

/**
 * Publishes warm-up events until one reaches the handler: the reader is connected, the trigger's
 * stream and durable exist and the replica runs. Events sent before that may be lost (a slot or a
 * durable that did not exist yet); they are only warm-up.
 */
async function warmUp(driver: SourceDriver, url: string): Promise<void> {
  const deadline = Date.now() + WARM_UP_DEADLINE_MS;
  let lastError = '';
  for (let n = 0; Date.now() < deadline; n++) {
    await driver.publish('warm', n, 0).catch((error: Error) => {
      lastError = error.message;
    });
    const view = await recorded(url, driver.name).catch((error: Error) => {
      lastError = error.message;
      return undefined;
    });
    if ((view?.warm?.unique ?? 0) > 0) return;
    await pause(250);
  }
  throw new Error(`${driver.name}: no warm-up event reached the function in 60 s (${lastError})`);
}

async function saturate(driver: SourceDriver, gateway: LocalGateway, pids: Pids) {
  const { url } = gateway;
  const events = driver.saturationEvents;
  const [cpuBefore, ticksBefore] = await Promise.all([cpuNow(pids), machineTicks()]);
  const driven: Driven =
    driver.saturate === undefined
      ? await drive(events, driver.lanes, (n, lane) => driver.publish('sat', n, lane))
      : await driver.saturate(events, gateway);
  const startedAt = driven.releasedAt ?? driven.firstAt;
  const view = await delivered(url, driver.name, 'sat', driven.sent, DELIVERY_DEADLINE_MS);
  const [cpuAfter, ticksAfter] = await Promise.all([cpuNow(pids), machineTicks()]);
  const samples = (await recorded(url, driver.name, 'sat')).sat?.latencyMs;
  return {
    events,
    sent: driven.sent,
    failed: driven.failed,
    delivered: view.unique,
    duplicates: view.count - view.unique,
    eventsPerS: view.unique === 0 ? 0 : (view.unique / (view.last - startedAt)) * 1000,
    publishedPerS: (driven.sent / Math.max(1, driven.lastAt - driven.firstAt)) * 1000,
    latencyMs: latencies(samples),
    cpuUsPerEvent: cpuPerEvent(cpuBefore, cpuAfter, view.unique, pids),
    machineBusy: busyShare(ticksBefore, ticksAfter),
    ...(driven.firstError === undefined ? {} : { firstError: driven.firstError }),
  };
}

async function paced(driver: SourceDriver, url: string) {
  const ratePerS = driver.pacedRatePerS ?? PACED_RATE_PER_S;
  const count = ratePerS * PACED_SECONDS;
  const driven = await drive(count, driver.lanes, (n, lane) => driver.publish('paced', n, lane), {
    ratePerS,
    deadlineMs: PACED_SECONDS * 1000 * 3,
  });
  const view = await delivered(url, driver.name, 'paced', driven.sent, DELIVERY_DEADLINE_MS);
  const samples = (await recorded(url, driver.name, 'paced')).paced?.latencyMs;
  return {
    ratePerS,
    sent: driven.sent,
    offeredPerS: (driven.sent / Math.max(1, driven.lastAt - driven.firstAt)) * 1000,
    publishMs: latencies(driven.publishMs),
    delivered: view.unique,
    latencyMs: latencies(samples),
    samplesMs: samples ?? [],
    ...(driven.firstError === undefined ? {} : { firstError: driven.firstError }),
  };
}

/** Runs one source's phases against the local-mode gateway, its clients opened and closed here. */
export async function measureSource(
  driver: SourceDriver,
  gateway: LocalGateway,
  pids: Omit<Pids, 'origin'>,
): Promise<SourceResult> {
  const { url } = gateway;
  await driver.connect(url);
  try {
    progress(`${driver.name}: warm-up`);
    await warmUp(driver, url);
    await driver.armBaseline();
    progress(`${driver.name}: saturation, ${driver.saturationEvents} events from ${driver.lanes} publishers`);
    const saturation = await saturate(driver, gateway, { ...pids, origin: driver.originPid() });
    progress(`${driver.name}: baseline (${driver.baselineNote})`);
    let baselinePerS: number | null = null;
    let baselineError: string | undefined;
    try {
      baselinePerS = await driver.baseline(saturation.sent);
    } catch (error) {
      baselineError = error instanceof Error ? error.message : String(error);
    }
    progress(`${driver.name}: paced, ${driver.pacedRatePerS ?? PACED_RATE_PER_S}/s for ${PACED_SECONDS} s`);
    return {
      source: driver.name,
      origin: driver.origin,
      baseline: driver.baselineNote,
      saturation,
      baselinePerS,
      ...(baselineError === undefined ? {} : { baselineError }),
      paced: await paced(driver, url),
    };
  } finally {
    await driver.close();
  }
}
