/** What one wrk run measured, latencies in microseconds. */
export interface WrkResult {
  readonly requestsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly requests: number;
  /** Responses outside 2xx/3xx: a run with any is not a measurement of the happy path. */
  readonly non2xx: number;
  /** connect + read + write + timeout errors. */
  readonly socketErrors: number;
}

const TIME_UNITS_US: Readonly<Record<string, number>> = { us: 1, ms: 1_000, s: 1_000_000, m: 60_000_000 };

/** `38.12us`, `1.05ms`, `2.00s` (wrk's units) → microseconds. */
export function parseWrkTime(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(us|ms|s|m)$/.exec(text.trim());
  const scale = match?.[2] === undefined ? undefined : TIME_UNITS_US[match[2]];
  if (match?.[1] === undefined || scale === undefined)
    throw new Error(`not a wrk time: ${JSON.stringify(text)}`);
  // Rounded to 1/100 µs so 1.16ms reads 1160, not 1159.9999999999998.
  return Math.round(Number(match[1]) * scale * 100) / 100;
}

/** Parses the report of `wrk --latency`; throws naming the line it could not find. */
export function parseWrkOutput(text: string): WrkResult {
  const line = (pattern: RegExp, what: string): RegExpExecArray => {
    const match = pattern.exec(text);
    if (match === null) throw new Error(`wrk output has no ${what} line:\n${text}`);
    return match;
  };
  const rps = line(/^Requests\/sec:\s+(\d+(?:\.\d+)?)\s*$/m, 'Requests/sec')[1];
  const p50 = line(/^\s*50%\s+(\S+)\s*$/m, '50% latency')[1];
  const p99 = line(/^\s*99%\s+(\S+)\s*$/m, '99% latency')[1];
  const requests = line(/^\s*(\d+) requests in /m, 'requests')[1];
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)\s*$/m.exec(text)?.[1] ?? '0';
  const errors = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$/m.exec(text);
  return {
    requestsPerSecond: Number(rps),
    p50Us: parseWrkTime(p50 ?? ''),
    p99Us: parseWrkTime(p99 ?? ''),
    requests: Number(requests),
    non2xx: Number(non2xx),
    socketErrors: errors === null ? 0 : errors.slice(1).reduce((sum, n) => sum + Number(n), 0),
  };
}
