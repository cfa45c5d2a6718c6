import { VERSION_NAME_PATTERN } from './versions.js';

/**
 * How a Function's calls are shared between its versions. The controller resolves the spec's
 * traffic block (or a rollout's current step) into concrete entries and writes them to status;
 * every gateway, and local mode, builds a TrafficSplit from those and asks it, per call, which
 * version serves. The same entries give every gateway the same answer for the same call.
 */

/** One resolved entry of a Function's traffic: a version by name, its share, and its tag if any. */
export interface TrafficEntry {
  /** A version's name, `v<number>`. */
  readonly version: string;
  /** Whole percent, 0-100; the entries of one Function add up to 100. */
  readonly percent: number;
  /** Names a URL of its own (`/function/{name}@{tag}`) that always reaches this version. */
  readonly tag?: string;
}

/** The header a caller pins a version with, by its name or by a tag (lower-case, as Node gives it). */
export const VERSION_HEADER = 'x-nimbus-version';

/** A version's name as the controller gives it: `v` and a number from 1, no leading zero. */
export const VERSION_NAME = new RegExp(VERSION_NAME_PATTERN);

/**
 * What one gateway saw of one version over one report interval, sent to the controller beside
 * its concurrency (keyed by the version's route, `namespace/function@vN`): what a rollout judges.
 */
export interface VersionOutcomes {
  readonly requests: number;
  /** 5xx answers, timeouts and refused connections; a caller's 4xx is not one. */
  readonly errors: number;
  /** The requests' latencies in LatencyHistogram's buckets (bucket index → count). */
  readonly latency: Readonly<Record<string, number>>;
}

/**
 * One Function's traffic, ready to be asked per call. Only the versions its entries name can be
 * reached, by share, by tag or by pin: a version kept for history, or one that failed its
 * rollout, takes no call however a caller asks for it, so old code stays out of reach once the
 * owner moves traffic off it.
 */
export class TrafficSplit {
  /** Upper bounds of each entry's share on [0, 100), in entry order; zero-percent entries have none. */
  private readonly bounds: { readonly version: string; readonly upTo: number }[] = [];
  private readonly byTag = new Map<string, string>();
  private readonly reachable = new Set<string>();

  /** Throws when the entries are not a valid split: the controller never writes such a status. */
  constructor(readonly entries: readonly TrafficEntry[]) {
    let total = 0;
    for (const entry of entries) {
      if (!VERSION_NAME.test(entry.version)) throw new Error(`traffic names no version: ${entry.version}`);
      if (!Number.isInteger(entry.percent) || entry.percent < 0 || entry.percent > 100)
        throw new Error(`traffic percent must be a whole number 0-100, not ${entry.percent}`);
      this.reachable.add(entry.version);
      if (entry.tag !== undefined) {
        if (this.byTag.has(entry.tag)) throw new Error(`traffic tag ${entry.tag} is given twice`);
        this.byTag.set(entry.tag, entry.version);
      }
      if (entry.percent === 0) continue;
      total += entry.percent;
      this.bounds.push({ version: entry.version, upTo: total });
    }
    if (total !== 100) throw new Error(`traffic percents add up to ${total}, not 100`);
  }

  /** All traffic to one version: what a Function without a traffic block or rollout has. */
  static all(version: string): TrafficSplit {
    return new TrafficSplit([{ version, percent: 100 }]);
  }

  /**
   * The version for a call, from `unit`, a number in [0, 1) that the caller draws at random for a
   * sync call, or derives from the call's id (unitOf) so that every attempt of an async call or
   * an event goes to the same version. Pure.
   */
  pick(unit: number): string {
    const point = unit * 100;
    for (const bound of this.bounds) if (point < bound.upTo) return bound.version;
    // unit is below 1, so only rounding can get here: the last share takes it.
    return (this.bounds[this.bounds.length - 1] as { version: string }).version;
  }

  /** The version a tag names, or undefined when no entry has it. */
  tagged(tag: string): string | undefined {
    return this.byTag.get(tag);
  }

  /**
   * The version a pin header asks for, by tag or by name: undefined when it names neither a tag
   * nor a version this split can reach.
   */
  pinned(value: string): string | undefined {
    return this.byTag.get(value) ?? (this.reachable.has(value) ? value : undefined);
  }

  /** Whether calls can reach `version` at all (by share, tag or pin). */
  reaches(version: string): boolean {
    return this.reachable.has(version);
  }

  /** Each reachable version's share, zero for those reached only by tag or pin. */
  shares(): Map<string, number> {
    const out = new Map<string, number>();
    for (const entry of this.entries) out.set(entry.version, (out.get(entry.version) ?? 0) + entry.percent);
    return out;
  }
}

/**
 * A number in [0, 1) fixed by `text` (a call or event id): FNV-1a over its UTF-16 code units. Not
 * a secret: it only keeps one call's attempts on one version. Pure.
 */
export function unitOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}
