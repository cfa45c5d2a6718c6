import { type ErrorCount, HISTORY_FIELDS, type HistoryPoint } from './history-point.js';

/** Kept per function: the latest 5xx answers, by interval, for the function list. */
export const RECENT_ERRORS_KEPT = 10;

/** A function's plots as JSON: a column per field, oldest first, null where a point has no value. */
export type HistoryColumns = { t: number[] } & Record<(typeof HISTORY_FIELDS)[number], (number | null)[]>;

export interface RecentError extends ErrorCount {
  /** The end of the interval they were answered in, epoch ms. */
  at: number;
}

/**
 * One function's last `capacity` points, in typed arrays written round: 4 bytes a value (8 for
 * the time), nothing allocated per sample, and a fixed size however long the gateway runs.
 */
export class HistoryRing {
  private readonly times: Float64Array;
  private readonly columns: Float32Array[];
  private next = 0;
  private size = 0;
  private readonly errors: RecentError[] = [];

  constructor(private readonly capacity: number) {
    this.times = new Float64Array(capacity);
    this.columns = HISTORY_FIELDS.map(() => new Float32Array(capacity));
  }

  push(at: number, point: HistoryPoint, errors: readonly ErrorCount[]): void {
    this.times[this.next] = at;
    HISTORY_FIELDS.forEach((field, i) => {
      (this.columns[i] as Float32Array)[this.next] = point[field];
    });
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    for (const error of errors) this.errors.push({ at, ...error });
    if (this.errors.length > RECENT_ERRORS_KEPT)
      this.errors.splice(0, this.errors.length - RECENT_ERRORS_KEPT);
  }

  /** Newest first. */
  recentErrors(): RecentError[] {
    return [...this.errors].reverse();
  }

  columnsJson(): HistoryColumns {
    const start = (this.next - this.size + this.capacity) % this.capacity;
    const order = Array.from({ length: this.size }, (_, i) => (start + i) % this.capacity);
    const out = { t: order.map((i) => this.times[i] as number) } as HistoryColumns;
    HISTORY_FIELDS.forEach((field, c) => {
      const column = this.columns[c] as Float32Array;
      out[field] = order.map((i) => {
        const value = column[i] as number;
        return Number.isNaN(value) ? null : Math.round(value * 1000) / 1000;
      });
    });
    return out;
  }
}
