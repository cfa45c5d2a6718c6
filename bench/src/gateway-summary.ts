import type { WrkResult } from './wrk-output.js';

/** a: bare node:http (the floor); b: the runtime replica alone; c: the gateway in front of b. */
export type TargetId = 'a' | 'b' | 'c';

export interface Measurement {
  readonly target: TargetId;
  readonly connections: number;
  readonly result: WrkResult;
}

/** What the gateway is held to. */
export const GATEWAY_TARGETS = Object.freeze({
  /** c/a of req/s at 32 connections, at least. */
  minRatioCA32: 0.3,
  /** c's p50 minus a's p50 at 1 connection, in µs, at most. */
  maxAddedP50Us1: 270,
});

export interface GatewaySummary {
  readonly ratio_c_a_1: number;
  readonly ratio_c_b_1: number;
  readonly ratio_c_a_32: number;
  readonly ratio_c_b_32: number;
  readonly added_p50_us_1: number;
  readonly pass_ratio_c_a_32: boolean;
  readonly pass_added_p50_us_1: boolean;
}

export function summarizeGateway(measurements: readonly Measurement[]): GatewaySummary {
  const find = (target: TargetId, connections: number): WrkResult => {
    const found = measurements.find((m) => m.target === target && m.connections === connections);
    if (found === undefined)
      throw new Error(`no measurement of target ${target} at ${connections} connections`);
    return found.result;
  };
  const rps = (target: TargetId, connections: number) => find(target, connections).requestsPerSecond;
  const ratioCA32 = rps('c', 32) / rps('a', 32);
  const addedP50 = find('c', 1).p50Us - find('a', 1).p50Us;
  return {
    ratio_c_a_1: rps('c', 1) / rps('a', 1),
    ratio_c_b_1: rps('c', 1) / rps('b', 1),
    ratio_c_a_32: ratioCA32,
    ratio_c_b_32: rps('c', 32) / rps('b', 32),
    added_p50_us_1: addedP50,
    pass_ratio_c_a_32: ratioCA32 >= GATEWAY_TARGETS.minRatioCA32,
    pass_added_p50_us_1: addedP50 <= GATEWAY_TARGETS.maxAddedP50Us1,
  };
}
