import type { StallReport } from './stall-monitor.js';
import type { WrkResult } from './wrk-output.js';

/**
 * a: bare node:http (the floor); b: the runtime replica alone; c: the gateway in front of b;
 * d: a minimal Node proxy in front of b, the floor for any proxy written in Node; e: the gateway
 * with tracing on at a 10% sample ratio, exporting to a loopback OTLP sink (its cost over c);
 * f: a gateway holding ROUTED_FUNCTIONS Functions with a route each, called by /function/hello
 * (what routes cost the plain path); g: the same gateway called by hello's own route with a
 * parameter (what a route hit costs); h: a gateway holding as many Functions without routes,
 * called by /function/hello, so that f/h and g/h are the routes' own cost; i: the gateway with
 * hello versioned, 90/10 between two version routes each with a replica, against c's plain path.
 */
export type TargetId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g' | 'h' | 'i';

/** Functions with a route each in targets f and g. */
export const ROUTED_FUNCTIONS = 5000;

/** The sample ratio of target e. */
export const TRACED_SAMPLE_RATIO = 0.1;

export interface Measurement {
  readonly target: TargetId;
  readonly connections: number;
  readonly result: WrkResult;
  /** CPU time per request over the measured window, in µs: the proxy's (c, d) and the replica's (b, c, d). */
  readonly proxyCpuUsPerRequest?: number;
  readonly replicaCpuUsPerRequest?: number;
  /** The gateway's event-loop delay and GC pauses over the measured window (c only). */
  readonly stalls?: StallReport;
}

/** What the gateway is held to (issue 14, item 1 and 2). */
export const GATEWAY_TARGETS = Object.freeze({
  /** c/a of req/s at 32 connections, at least. */
  minRatioCA32: 0.35,
  /** What the gateway adds to the replica's p50 at 1 connection (c − b), in µs, at most. */
  maxAddedP50Us1: 60,
  /** c's p99 over b's at 32 connections, at most. */
  maxP99RatioCB32: 1.5,
  /** The gateway's longest event-loop stall and GC pause under the 32-connection run, in ms, at most. */
  maxStallMs: 10,
  /** f/h and g/h of req/s at 32 connections: 5,000 routes against none (issue 17, item 1), at least. */
  minRatioRoutes: 0.95,
});

export interface GatewaySummary {
  readonly ratio_c_a_1: number;
  readonly ratio_c_b_1: number;
  readonly ratio_c_a_32: number;
  readonly ratio_c_b_32: number;
  /** c − b at 1 connection: the gateway hop's own latency. */
  readonly added_p50_us_1: number;
  /** c − a at 1 connection: gateway and runtime together over bare node:http. */
  readonly added_p50_us_1_over_bare: number;
  readonly p99_ratio_c_b_32: number;
  /** c/d: what the gateway keeps of a minimal Node proxy's throughput, and what it adds to its p50. */
  readonly ratio_c_d_32: number;
  readonly ratio_d_a_32: number;
  readonly added_p50_us_1_over_minimal_proxy: number;
  /** e/c: what tracing at TRACED_SAMPLE_RATIO keeps of the gateway's throughput, and adds to its p50 and CPU. */
  readonly ratio_e_c_32: number;
  readonly ratio_e_c_1: number;
  readonly added_p50_us_1_traced: number;
  readonly traced_gateway_cpu_us_per_request_32: number | undefined;
  readonly gateway_cpu_us_per_request_32: number | undefined;
  readonly minimal_proxy_cpu_us_per_request_32: number | undefined;
  readonly replica_cpu_us_per_request_32: number | undefined;
  readonly loop_delay_p99_ms_32: number | undefined;
  readonly loop_delay_max_ms_32: number | undefined;
  readonly gc_max_ms_32: number | undefined;
  readonly pass_ratio_c_a_32: boolean;
  readonly pass_added_p50_us_1: boolean;
  readonly pass_p99_ratio_c_b_32: boolean;
  readonly pass_stalls_32: boolean;
  /** With ROUTED_FUNCTIONS routes: the plain path (f) and a route hit (g) over the gateway without routes (c). */
  readonly ratio_f_c_1: number;
  readonly ratio_f_c_32: number;
  readonly ratio_g_c_1: number;
  readonly ratio_g_c_32: number;
  /** Against a gateway with as many Functions but no routes: the routes' own cost. */
  readonly ratio_f_h_1: number;
  readonly ratio_f_h_32: number;
  readonly ratio_g_h_1: number;
  readonly ratio_g_h_32: number;
  readonly ratio_h_c_32: number;
  /** The gateway's CPU per request at 32 connections: h, f and g. */
  readonly no_routes_cpu_us_per_request_32: number | undefined;
  readonly routes_plain_cpu_us_per_request_32: number | undefined;
  readonly route_hit_cpu_us_per_request_32: number | undefined;
  /** g − f at 1 connection: a route hit over /function/ on the same gateway. */
  readonly added_p50_us_1_routed: number;
  readonly pass_ratio_routes_32: boolean;
  /** i/c: a versioned Function's calls, shared 90/10 between two version routes, over the plain path. */
  readonly ratio_i_c_1: number;
  readonly ratio_i_c_32: number;
  /** The split's own cost within 5 % of the plain path (issue 17's target). */
  readonly pass_ratio_versions_32: boolean;
  /** i − c at 1 connection: what picking a version adds to p50. */
  readonly added_p50_us_1_versions: number;
  readonly versions_cpu_us_per_request_32: number | undefined;
}

export function summarizeGateway(measurements: readonly Measurement[]): GatewaySummary {
  const find = (target: TargetId, connections: number): Measurement => {
    const found = measurements.find((m) => m.target === target && m.connections === connections);
    if (found === undefined)
      throw new Error(`no measurement of target ${target} at ${connections} connections`);
    return found;
  };
  const rps = (target: TargetId, connections: number) => find(target, connections).result.requestsPerSecond;
  const ratioCA32 = rps('c', 32) / rps('a', 32);
  const addedP50 = find('c', 1).result.p50Us - find('b', 1).result.p50Us;
  const p99Ratio = find('c', 32).result.p99Us / find('b', 32).result.p99Us;
  const c32 = find('c', 32);
  const stalls = c32.stalls;
  return {
    ratio_c_a_1: rps('c', 1) / rps('a', 1),
    ratio_c_b_1: rps('c', 1) / rps('b', 1),
    ratio_c_a_32: ratioCA32,
    ratio_c_b_32: rps('c', 32) / rps('b', 32),
    added_p50_us_1: addedP50,
    added_p50_us_1_over_bare: find('c', 1).result.p50Us - find('a', 1).result.p50Us,
    p99_ratio_c_b_32: p99Ratio,
    ratio_c_d_32: rps('c', 32) / rps('d', 32),
    ratio_d_a_32: rps('d', 32) / rps('a', 32),
    added_p50_us_1_over_minimal_proxy: find('c', 1).result.p50Us - find('d', 1).result.p50Us,
    ratio_e_c_32: rps('e', 32) / rps('c', 32),
    ratio_e_c_1: rps('e', 1) / rps('c', 1),
    added_p50_us_1_traced: find('e', 1).result.p50Us - find('c', 1).result.p50Us,
    traced_gateway_cpu_us_per_request_32: find('e', 32).proxyCpuUsPerRequest,
    gateway_cpu_us_per_request_32: c32.proxyCpuUsPerRequest,
    minimal_proxy_cpu_us_per_request_32: find('d', 32).proxyCpuUsPerRequest,
    replica_cpu_us_per_request_32: c32.replicaCpuUsPerRequest,
    loop_delay_p99_ms_32: stalls?.loopDelayP99Ms,
    loop_delay_max_ms_32: stalls?.loopDelayMaxMs,
    gc_max_ms_32: stalls?.gcMaxMs,
    pass_ratio_c_a_32: ratioCA32 >= GATEWAY_TARGETS.minRatioCA32,
    pass_added_p50_us_1: addedP50 <= GATEWAY_TARGETS.maxAddedP50Us1,
    pass_p99_ratio_c_b_32: p99Ratio <= GATEWAY_TARGETS.maxP99RatioCB32,
    ratio_f_c_1: rps('f', 1) / rps('c', 1),
    ratio_f_c_32: rps('f', 32) / rps('c', 32),
    ratio_g_c_1: rps('g', 1) / rps('c', 1),
    ratio_g_c_32: rps('g', 32) / rps('c', 32),
    ratio_f_h_1: rps('f', 1) / rps('h', 1),
    ratio_f_h_32: rps('f', 32) / rps('h', 32),
    ratio_g_h_1: rps('g', 1) / rps('h', 1),
    ratio_g_h_32: rps('g', 32) / rps('h', 32),
    ratio_h_c_32: rps('h', 32) / rps('c', 32),
    no_routes_cpu_us_per_request_32: find('h', 32).proxyCpuUsPerRequest,
    routes_plain_cpu_us_per_request_32: find('f', 32).proxyCpuUsPerRequest,
    route_hit_cpu_us_per_request_32: find('g', 32).proxyCpuUsPerRequest,
    added_p50_us_1_routed: find('g', 1).result.p50Us - find('f', 1).result.p50Us,
    pass_ratio_routes_32:
      rps('f', 32) / rps('h', 32) >= GATEWAY_TARGETS.minRatioRoutes &&
      rps('g', 32) / rps('h', 32) >= GATEWAY_TARGETS.minRatioRoutes,
    ratio_i_c_1: rps('i', 1) / rps('c', 1),
    ratio_i_c_32: rps('i', 32) / rps('c', 32),
    pass_ratio_versions_32: rps('i', 32) / rps('c', 32) >= 0.95,
    added_p50_us_1_versions: find('i', 1).result.p50Us - find('c', 1).result.p50Us,
    versions_cpu_us_per_request_32: find('i', 32).proxyCpuUsPerRequest,
    pass_stalls_32:
      stalls !== undefined &&
      stalls.loopDelayMaxMs <= GATEWAY_TARGETS.maxStallMs &&
      stalls.gcMaxMs <= GATEWAY_TARGETS.maxStallMs,
  };
}
