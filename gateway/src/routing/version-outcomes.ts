import { LatencyHistogram } from '@nimbus/api/latency-histogram';
import type { VersionOutcomes } from '@nimbus/api/traffic';

/**
 * What one version route's calls came to since the last report: requests, errors and latency,
 * for the controller's rollout to judge. A caller that hung up (499) is no outcome of the
 * version's and is not counted; a 5xx, a timeout and a connection the replica refused are
 * errors (the invoke path answers those 502, 503 and 504). A call held while the version woke
 * counts, and its failure too, but not its time: a new version's first calls wait for its first
 * replica, and a rollout that judged that wait would roll back every version that starts cold.
 */
export class VersionOutcomeMeter {
  private requests = 0;
  private errors = 0;
  private latency = new LatencyHistogram();

  record(code: number, ms: number, held = false): void {
    if (code === 499) return;
    this.requests++;
    if (code >= 500) this.errors++;
    if (!held) this.latency.record(ms);
  }

  /** The interval's outcomes, undefined when it had none; the next interval starts empty. */
  take(): VersionOutcomes | undefined {
    if (this.requests === 0) return undefined;
    const out: VersionOutcomes = {
      requests: this.requests,
      errors: this.errors,
      latency: this.latency.toSparse(),
    };
    this.requests = 0;
    this.errors = 0;
    this.latency = new LatencyHistogram();
    return out;
  }
}
