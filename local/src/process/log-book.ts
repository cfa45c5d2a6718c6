import type { Clock } from '@nimbus/api';
import { functionKey } from '@nimbus/api';
import type { FunctionLogLine, FunctionLogs, LogQuery } from '@nimbus/gateway';

/** Lines a follower may fall behind by before the oldest it has not read are dropped. */
const FOLLOWER_BACKLOG = 10_000;

interface Follower {
  push(line: FunctionLogLine): void;
}

interface Book {
  lines: FunctionLogLine[];
  followers: Set<Follower>;
}

/**
 * Local mode's log lines, per function: the newest `linesPerFunction` lines its replicas wrote
 * (stdout and stderr), and the followers of `GET /system/logs?follow=true`. Memory is bounded:
 * old lines fall off the front, and a follower that falls far behind loses the lines it skipped
 * (it is told how many).
 */
export class LogBook implements FunctionLogs {
  private readonly books = new Map<string, Book>();

  constructor(
    private readonly clock: Clock,
    private readonly linesPerFunction = 2000,
  ) {}

  /** One line written by `instance`, a replica of the function `key` (namespace/name). */
  record(key: string, instance: string, text: string): void {
    let book = this.books.get(key);
    if (book === undefined) {
      book = { lines: [], followers: new Set() };
      this.books.set(key, book);
    }
    const slash = key.indexOf('/');
    const line: FunctionLogLine = {
      name: key.slice(slash + 1),
      namespace: key.slice(0, slash),
      instance,
      timestamp: new Date(this.clock.now()).toISOString(),
      text,
    };
    book.lines.push(line);
    if (book.lines.length > this.linesPerFunction)
      book.lines.splice(0, book.lines.length - this.linesPerFunction);
    for (const follower of book.followers) follower.push(line);
  }

  /** A function was removed: its lines go too. */
  forget(key: string): void {
    this.books.delete(key);
  }

  async open(namespace: string, name: string, query: LogQuery): Promise<AsyncIterable<FunctionLogLine>> {
    const key = functionKey(namespace, name);
    let book = this.books.get(key);
    if (book === undefined) {
      book = { lines: [], followers: new Set() };
      this.books.set(key, book);
    }
    const since = query.since?.getTime();
    let kept = since === undefined ? book.lines : book.lines.filter((l) => Date.parse(l.timestamp) >= since);
    if (query.tail !== undefined) kept = query.tail === 0 ? [] : kept.slice(-query.tail);
    const past = [...kept];
    if (!query.follow) return lines(past);
    return this.follow(book, past, query.signal);
  }

  private async *follow(
    book: Book,
    past: FunctionLogLine[],
    signal: AbortSignal,
  ): AsyncGenerator<FunctionLogLine> {
    const pending: FunctionLogLine[] = [];
    let skipped = 0;
    let wake: (() => void) | undefined;
    const follower: Follower = {
      push(line) {
        if (pending.length >= FOLLOWER_BACKLOG) {
          pending.shift();
          skipped++;
        }
        pending.push(line);
        wake?.();
      },
    };
    // Subscribed before the past lines go out, so none written meanwhile is lost.
    book.followers.add(follower);
    const stop = () => wake?.();
    signal.addEventListener('abort', stop);
    try {
      yield* past;
      while (!signal.aborted) {
        if (pending.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        if (skipped > 0) {
          const [first] = pending as [FunctionLogLine];
          yield {
            ...first,
            instance: 'nimbus',
            text: `nimbus: ${skipped} lines skipped: the reader fell behind`,
          };
          skipped = 0;
        }
        yield pending.shift() as FunctionLogLine;
      }
    } finally {
      book.followers.delete(follower);
      signal.removeEventListener('abort', stop);
    }
  }
}

async function* lines(past: FunctionLogLine[]): AsyncGenerator<FunctionLogLine> {
  yield* past;
}
