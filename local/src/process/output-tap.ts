import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Longer lines are cut here: one runaway write must not hold the log book's memory. */
export const MAX_LINE_CHARS = 16 * 1024;

/** Where a replica's lines go besides local mode's own output: its function's log book. */
export type LineSink = (text: string) => void;

/** A child's output, line by line, passed through to local mode's own and to a sink. */
export interface OutputTap {
  /** From now on, each line also goes to `sink` (a pool process adopted by a function, say). */
  route(sink: LineSink | undefined): void;
}

const taps = new WeakMap<ChildProcess, OutputTap>();

/**
 * Reads a child's piped stdout and stderr line by line and writes each line on to local mode's
 * own stdout and stderr, as if the child had inherited them, and to the tap's sink when it has
 * one. A child spawned with inherited output has nothing to tap.
 */
export function tapOutput(
  child: ChildProcess,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): OutputTap {
  let sink: LineSink | undefined;
  const follow = (stream: NodeJS.ReadableStream | null, to: NodeJS.WritableStream) => {
    if (stream === null) return;
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      to.write(`${line}\n`);
      sink?.(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
    });
  };
  follow(child.stdout, out);
  follow(child.stderr, err);
  const tap: OutputTap = {
    route(next) {
      sink = next;
    },
  };
  taps.set(child, tap);
  return tap;
}

/** The tap of a child spawned through tapOutput; undefined for any other. */
export function outputTapOf(child: ChildProcess): OutputTap | undefined {
  return taps.get(child);
}
