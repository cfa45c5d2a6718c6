import type { Clock } from './clock.js';
import type { LogLevel } from './config.js';

export type LogFields = Readonly<Record<string, unknown>>;

/** Structured logging as handed to handlers (ctx.log) and used by the runtime itself. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry `bindings` (e.g. the invocation id). */
  child(bindings: LogFields): Logger;
}

/** Where finished lines go; stdout in production, an array in tests. */
export type LogSink = (line: string) => void;

const SEVERITY: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(['level', 'time', 'msg']);

/** One JSON object per line: {"level","time","msg",...bindings,...fields}. */
export class JsonLogger implements Logger {
  private readonly threshold: number;

  constructor(
    private readonly sink: LogSink,
    private readonly clock: Clock,
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
    // Handler-supplied fields must not be able to forge the line's level, time or message.
    for (const source of [this.bindings, fields ?? {}]) {
      for (const [key, value] of Object.entries(source)) {
        if (!RESERVED.has(key)) record[key] = value;
      }
    }
    this.sink(serialize(record));
  }
}

function serialize(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record, replaceUnserializable);
  } catch (error) {
    // A circular field from handler code must cost the fields, not the log line.
    const { level, time, msg } = record;
    return JSON.stringify({ level, time, msg, logError: `log fields not serializable: ${describe(error)}` });
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
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
