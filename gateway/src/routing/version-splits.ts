import { type TrafficEntry, TrafficSplit } from '@nimbus/api/traffic';

/** A versioned Function the controller has given no traffic yet: no version can serve. */
export const NO_VERSION_YET = 'none';

/**
 * Each versioned Function's traffic, by its `namespace/name` key, as its source last gave it. A
 * Function not here is unversioned and is served by its own route.
 */
export class VersionSplits {
  private readonly splits = new Map<string, TrafficSplit | typeof NO_VERSION_YET>();

  /**
   * Sets a Function's split from its status.traffic; undefined or entries that make no valid split
   * leave it with none (calls answered 503 until the controller writes one). Returns the split.
   */
  set(fnKey: string, entries: readonly TrafficEntry[] | undefined): TrafficSplit | undefined {
    let split: TrafficSplit | undefined;
    try {
      split = entries === undefined || entries.length === 0 ? undefined : new TrafficSplit(entries);
    } catch {
      split = undefined;
    }
    this.splits.set(fnKey, split ?? NO_VERSION_YET);
    return split;
  }

  /** The Function's split; NO_VERSION_YET when versioned without one; undefined when unversioned. */
  of(fnKey: string): TrafficSplit | typeof NO_VERSION_YET | undefined {
    return this.splits.get(fnKey);
  }

  remove(fnKey: string): void {
    this.splits.delete(fnKey);
  }
}
