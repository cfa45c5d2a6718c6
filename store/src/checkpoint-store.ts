import { InvalidStoreInputError } from './errors.js';
import { checkId } from './keys.js';

/**
 * Small durable state an event source keeps across restarts, one checkpoint per source trigger
 * (`namespace/function/trigger`): a map of fields to values, such as the S3 poller's view of its
 * bucket (object key -> ETag, size and time). Matches `SourceCheckpoint` of @nimbus/sources
 * structurally; this package does not import that one.
 */
export interface Checkpoint {
  /** Every field and value, read in pages (HSCAN) so a large checkpoint never blocks Redis. */
  entries(): Promise<Map<string, string>>;
  /**
   * Writes the fields; refused (CheckpointFullError) when they would take it past maxFields. On
   * Redis a write of more than 1,000 fields goes in batches, and the batches before a refused one stay.
   */
  set(fields: ReadonlyMap<string, string>): Promise<void>;
  delete(fields: readonly string[]): Promise<void>;
  /** Forgets everything (the trigger went). */
  clear(): Promise<void>;
}

export interface CheckpointStore {
  /** The checkpoint of one source trigger; nothing is read or written until it is used. */
  checkpoint(key: string): Checkpoint;
}

export interface CheckpointLimits {
  /**
   * Fields one checkpoint holds at most. An S3 poller keeps one field per object, about 100 bytes
   * with a short key, so the default (1,000,000) is a bucket (or prefix) of a million objects in
   * about 100 MB of Redis; the poller holds the same in memory while it compares.
   */
  readonly maxFields: number;
  /** A field at most this many UTF-8 bytes: an S3 key is at most 1,024. */
  readonly maxFieldBytes: number;
  readonly maxValueBytes: number;
}

export const DEFAULT_CHECKPOINT_LIMITS: CheckpointLimits = {
  maxFields: 1_000_000,
  maxFieldBytes: 1_024,
  maxValueBytes: 512,
};

/** The write would take the checkpoint past its limit of fields; nothing was written. */
export class CheckpointFullError extends Error {
  constructor(
    readonly key: string,
    readonly would: number,
    readonly limit: number,
  ) {
    super(`checkpoint ${key}: this write would make ${would} fields, over the limit of ${limit}`);
    this.name = 'CheckpointFullError';
  }
}

export function checkCheckpointKey(key: string): string {
  return checkId('checkpoint key', key);
}

/** Refuses fields and values past the limits before any I/O. An empty field is allowed (a marker). */
export function checkCheckpointFields(
  key: string,
  fields: Iterable<[string, string]>,
  limits: CheckpointLimits,
): void {
  for (const [field, value] of fields) {
    checkField(key, field, limits);
    if (typeof value !== 'string' || Buffer.byteLength(value) > limits.maxValueBytes)
      throw new InvalidStoreInputError(
        `checkpoint ${key}: the value of ${JSON.stringify(field.slice(0, 80))} is not a string of at most ${limits.maxValueBytes} bytes`,
      );
  }
}

export function checkField(key: string, field: string, limits: CheckpointLimits): void {
  if (typeof field !== 'string' || Buffer.byteLength(field) > limits.maxFieldBytes)
    throw new InvalidStoreInputError(
      `checkpoint ${key}: field ${JSON.stringify(String(field).slice(0, 80))} is not a string of at most ${limits.maxFieldBytes} bytes`,
    );
}
