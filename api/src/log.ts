/**
 * The one structured logger of every Nimbus process (gateway, controller, local mode, runtime):
 * one JSON object a line, the form log collectors in a cluster expect. Written here rather than
 * taken from pino: the runtime bundles it into every replica's cold start, where this file costs
 * a few hundred bytes and no parse time (docs/development.md has the measurement against pino).
 */
import { type Clock, systemClock } from './clock.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry `bindings` (e.g. the function, or the invocation id). */
  child(bindings: LogFields): Logger;
}

/** Where finished lines go; stdout in production, an array in tests. */
export type LogSink = (line: string) => void;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(['level', 'time', 'msg']);

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(SEVERITY, value);
}

/**
 * `{"level","time","msg",...bindings,...fields}`. Fields never replace the line's level, time or
 * message (handler code and request data reach the fields); an Error anywhere in the fields keeps
 * its name, message, stack and cause chain; a field that cannot be serialised costs the fields,
 * never the line.
 */
export class JsonLogger implements Logger {
  private readonly threshold: number;

  constructor(
    private readonly sink: LogSink,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly level: LogLevel,
    private readonly bindings: LogFields = {},
  ) {
    this.threshold = SEVERITY[level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  child(bindings: LogFields): Logger {
    return new JsonLogger(this.sink, this.clock, this.level, { ...this.bindings, ...bindings });
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (SEVERITY[level] < this.threshold) return;
    const record: Record<string, unknown> = { level, time: new Date(this.clock.now()).toISOString(), msg };
    for (const source of [this.bindings, fields ?? {}]) {
      for (const [key, value] of Object.entries(source)) {
        if (!RESERVED.has(key)) record[key] = value;
      }
    }
    this.sink(serialize(record));
  }
}

/** A logger writing lines to stdout (or `write`), carrying `base` on every line. */
export function createLogger(
  base: LogFields,
  level: LogLevel = 'info',
  write: LogSink = (line) => process.stdout.write(line),
  clock: Pick<Clock, 'now'> = systemClock,
): Logger {
  return new JsonLogger((line) => write(`${line}\n`), clock, level, base);
}

function serialize(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record, replaceUnserializable);
  } catch (error) {
    const { level, time, msg } = record;
    return JSON.stringify({
      level,
      time,
      msg,
      logError: `log fields not serializable: ${errorMessage(error)}`,
    });
  }
}

function replaceUnserializable(_key: string, value: unknown): unknown {
  if (value instanceof Error) return errorFields(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Plain-object form of an error for log lines, cause chain included. */
export function errorFields(error: Error, depth = 0): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  // Bounded so a cause cycle cannot recurse forever.
  if (error.cause !== undefined && depth < 5) {
    fields.cause = error.cause instanceof Error ? errorFields(error.cause, depth + 1) : String(error.cause);
  }
  return fields;
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
