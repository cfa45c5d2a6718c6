import { LatencyHistogram } from '@nimbus/api/latency-histogram';
import type { VersionOutcomes } from '@nimbus/api/traffic';
import type { RolloutObservation, WindowStats } from './rollout-decision.js';

export type { VersionOutcomes } from '@nimbus/api/traffic';

interface Tally {
  requests: number;
  errors: number;
  readonly latency: LatencyHistogram;
}

/**
 * The outcomes of a rollout's two versions since its current step began, summed over every
 * gateway's reports: both versions over the same window, as decideRollout compares them. The
 * caller starts a new window when the step changes.
 */
export class RolloutWindow {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    readonly stable: string,
    readonly candidate: string,
    /** When the step, and so the window, began. */
    readonly since: number,
  ) {}

  /** One report's outcomes for `version`; a version outside the rollout, or a bad count, adds nothing. */
  add(version: string, outcomes: VersionOutcomes): void {
    if (version !== this.stable && version !== this.candidate) return;
    const { requests, errors } = outcomes;
    if (!Number.isSafeInteger(requests) || !Number.isSafeInteger(errors)) return;
    if (requests < 0 || errors < 0 || errors > requests) return;
    let tally = this.tallies.get(version);
    if (tally === undefined) {
      tally = { requests: 0, errors: 0, latency: new LatencyHistogram() };
      this.tallies.set(version, tally);
    }
    tally.requests += requests;
    tally.errors += errors;
    tally.latency.add(outcomes.latency);
  }

  observation(): RolloutObservation {
    return { stable: this.statsOf(this.stable), candidate: this.statsOf(this.candidate) };
  }

  private statsOf(version: string): WindowStats {
    const tally = this.tallies.get(version);
    if (tally === undefined) return { requests: 0, errors: 0, p99Ms: undefined };
    return { requests: tally.requests, errors: tally.errors, p99Ms: tally.latency.quantile(0.99) };
  }
}
