import { BusConfigError } from './errors.js';
import { checkName } from './names.js';
import { checkSubject, subjectsOverlap } from './subjects.js';

/**
 * When a stored message goes away: `limits` keeps it until age or size limits; `workqueue` drops
 * it once acknowledged (one consumer per subject); `interest` once every consumer whose filter
 * matches acknowledged it (a message nobody listens to is not kept).
 */
export type Retention = 'limits' | 'workqueue' | 'interest';

export interface StreamConfig {
  readonly name: string;
  /** Subjects (patterns allowed) the stream stores; no two streams may overlap. */
  readonly subjects: readonly string[];
  /** Default `limits`; fixed once the stream exists. */
  readonly retention?: Retention;
  /** Messages older than this are dropped; default 0, no limit. */
  readonly maxAgeMs?: number;
  /** How long a message id is remembered for deduplication; default 2 minutes, or the max age if shorter. */
  readonly duplicateWindowMs?: number;
  /** Default `file`; fixed once the stream exists. The memory bus keeps everything in memory anyway. */
  readonly storage?: 'file' | 'memory';
  /** Copies in a NATS cluster; default 1. */
  readonly replicas?: number;
}

export type ResolvedStreamConfig = Required<StreamConfig>;

/** What a stream holds now. */
export interface StreamState {
  readonly messages: number;
  /** When the oldest message still stored was stored (epoch ms); undefined when it holds none. */
  readonly oldestTimestamp: number | undefined;
  /** Messages stored, by subject. */
  readonly bySubject: ReadonlyMap<string, number>;
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

function checkCount(value: number, what: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new BusConfigError(`${what} must be a whole number of at least ${min}, not ${value}`);
}

/** Defaults filled in and every field checked; throws a BusConfigError naming the field. */
export function resolveStreamConfig(config: StreamConfig): ResolvedStreamConfig {
  checkName(config.name, 'stream name');
  if (config.subjects.length === 0)
    throw new BusConfigError(`stream ${config.name} needs at least one subject`);
  for (const [i, s] of config.subjects.entries()) {
    checkSubject(s, `subject of stream ${config.name}`, true);
    const other = config.subjects.slice(i + 1).find((t) => subjectsOverlap(s, t));
    if (other !== undefined)
      throw new BusConfigError(`stream ${config.name} lists overlapping subjects "${s}" and "${other}"`);
  }
  const maxAgeMs = config.maxAgeMs ?? 0;
  // As JetStream does, the default window shrinks to a shorter max age.
  const defaultWindow =
    maxAgeMs > 0 ? Math.min(maxAgeMs, DEFAULT_DUPLICATE_WINDOW_MS) : DEFAULT_DUPLICATE_WINDOW_MS;
  const resolved: ResolvedStreamConfig = {
    name: config.name,
    subjects: [...config.subjects],
    retention: config.retention ?? 'limits',
    maxAgeMs,
    duplicateWindowMs: config.duplicateWindowMs ?? defaultWindow,
    storage: config.storage ?? 'file',
    replicas: config.replicas ?? 1,
  };
  checkCount(resolved.maxAgeMs, `maxAgeMs of stream ${config.name}`, 0);
  checkCount(resolved.duplicateWindowMs, `duplicateWindowMs of stream ${config.name}`, 1);
  checkCount(resolved.replicas, `replicas of stream ${config.name}`, 1);
  if (resolved.maxAgeMs > 0 && resolved.duplicateWindowMs > resolved.maxAgeMs)
    throw new BusConfigError(`duplicateWindowMs of stream ${config.name} may not exceed its maxAgeMs`);
  return Object.freeze(resolved);
}

/**
 * The fields to change to bring an existing stream to `desired`; throws when one of them cannot
 * change in place (retention, storage), since converging would mean dropping its messages.
 */
export function streamChanges(desired: ResolvedStreamConfig, observed: ResolvedStreamConfig): string[] {
  for (const fixed of ['retention', 'storage'] as const) {
    if (desired[fixed] !== observed[fixed])
      throw new BusConfigError(
        `stream ${desired.name} has ${fixed} ${observed[fixed]}, not ${desired[fixed]}; it cannot change in place (delete the stream to change it)`,
      );
  }
  const changed: string[] = [];
  if (!sameSet(desired.subjects, observed.subjects)) changed.push('subjects');
  for (const field of ['maxAgeMs', 'duplicateWindowMs', 'replicas'] as const) {
    if (desired[field] !== observed[field]) changed.push(field);
  }
  return changed;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
