import type { Logger } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, resourcePath } from '@nimbus/kube';
import type { FunctionLogLine, FunctionLogs, LogQuery } from '../ports.js';

interface PodView extends KubeObject {
  status?: { phase?: string };
}

/** The container of a function's pod that runs its code (controller/src/resources/deployment.ts). */
const CONTAINER = 'function';
/** How often a followed function's pods are listed again, to follow the ones that started since. */
const POD_POLL_MS = 2000;
/** A one-off read that has not ended in this long is given up. */
const READ_TIMEOUT_MS = 30_000;
/** A followed pod whose log is quiet this long is read again from where it was. */
const QUIET_MS = 10 * 60_000;
/** Lines a follower may fall behind by before the oldest it has not read are dropped. */
const BACKLOG = 10_000;

/**
 * A function's log lines in a cluster, read through the API server's pod log endpoint (the
 * kubelet's, behind it) for each of its pods: all of them at once, merged by time, for a one-off
 * read; followed as they are written otherwise, picking up pods that start meanwhile. Needs get
 * and list on pods and get on pods/log in the function's namespace.
 */
export class PodLogs implements FunctionLogs {
  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly pollMs = POD_POLL_MS,
  ) {}

  async open(namespace: string, name: string, query: LogQuery): Promise<AsyncIterable<FunctionLogLine>> {
    const pods = await this.runningPods(namespace, name);
    if (!query.follow) {
      const read = await Promise.all(pods.map((pod) => this.readPod(namespace, name, pod, query)));
      // Not one pod could be read: that is the answer's problem (the API server's refusal, say),
      // not an empty log.
      const failed = read.filter((r) => r instanceof Error);
      if (failed.length > 0 && failed.length === read.length) throw failed[0];
      let lines = read
        .flatMap((r) => (r instanceof Error ? [] : r))
        .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
      if (query.tail !== undefined) lines = query.tail === 0 ? [] : lines.slice(-query.tail);
      return once(lines);
    }
    return this.follow(namespace, name, pods, query);
  }

  private async runningPods(namespace: string, name: string): Promise<string[]> {
    const list = await this.client.list<PodView>(RESOURCES.pods, {
      namespace,
      labelSelector: `nimbus.dev/function=${name}`,
    });
    return list.items
      .filter((p) => p.status?.phase === 'Running')
      .map((p) => p.metadata.name as string)
      .sort();
  }

  private logQuery(query: LogQuery, follow: boolean) {
    return {
      container: CONTAINER,
      timestamps: true,
      follow,
      ...(query.tail === undefined ? {} : { tailLines: query.tail }),
      ...(query.since === undefined ? {} : { sinceTime: query.since.toISOString().replace(/\.\d+Z$/, 'Z') }),
    };
  }

  /** One pod's lines, or why they could not be read. */
  private async readPod(
    namespace: string,
    name: string,
    pod: string,
    query: LogQuery,
  ): Promise<FunctionLogLine[] | Error> {
    const lines: FunctionLogLine[] = [];
    try {
      await this.client.streamLines(
        resourcePath(RESOURCES.pods, namespace, pod, 'log'),
        { query: this.logQuery(query, false), signal: query.signal, timeoutMs: READ_TIMEOUT_MS },
        (raw) => lines.push(parseLine(raw, namespace, name, pod)),
      );
    } catch (err) {
      // A pod that stopped between the list and the read has nothing more to say.
      this.log.debug('could not read a pod log', { pod: `${namespace}/${pod}`, err });
      return err as Error;
    }
    return lines;
  }

  private follow(
    namespace: string,
    name: string,
    first: string[],
    query: LogQuery,
  ): AsyncIterable<FunctionLogLine> {
    const queue = new LineQueue(query.signal);
    const followed = new Set<string>();
    const start = (pod: string, fromStart: boolean) => {
      followed.add(pod);
      // A pod found later is read from its first line: everything it wrote is new to the reader.
      const podQuery: LogQuery = fromStart ? { follow: true, signal: query.signal } : query;
      void this.client
        .streamLines(
          resourcePath(RESOURCES.pods, namespace, pod, 'log'),
          { query: this.logQuery(podQuery, true), signal: query.signal, timeoutMs: QUIET_MS },
          (raw) => queue.push(parseLine(raw, namespace, name, pod)),
        )
        .catch((err: unknown) =>
          this.log.debug('a followed pod log ended', { pod: `${namespace}/${pod}`, err }),
        );
    };
    for (const pod of first) start(pod, false);
    const poll = setInterval(() => {
      this.runningPods(namespace, name).then(
        (pods) => {
          for (const pod of pods) if (!followed.has(pod)) start(pod, true);
        },
        (err: unknown) => this.log.debug('could not list a followed function’s pods', { err }),
      );
    }, this.pollMs);
    query.signal.addEventListener('abort', () => clearInterval(poll), { once: true });
    return queue;
  }
}

/** `2026-12-06T17:44:44.454000000Z text`, as the log endpoint writes a line with timestamps. */
export function parseLine(raw: string, namespace: string, name: string, instance: string): FunctionLogLine {
  const space = raw.indexOf(' ');
  const stamp = space > 0 ? raw.slice(0, space) : '';
  if (/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(stamp))
    return { name, namespace, instance, timestamp: stamp, text: raw.slice(space + 1) };
  return { name, namespace, instance, timestamp: new Date().toISOString(), text: raw };
}

async function* once(lines: FunctionLogLine[]): AsyncGenerator<FunctionLogLine> {
  yield* lines;
}

/** Lines from several pods, in the order they arrive, until the reader goes. */
class LineQueue implements AsyncIterable<FunctionLogLine> {
  private readonly pending: FunctionLogLine[] = [];
  private wake: (() => void) | undefined;

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => this.wake?.(), { once: true });
  }

  push(line: FunctionLogLine): void {
    if (this.pending.length >= BACKLOG) this.pending.shift();
    this.pending.push(line);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FunctionLogLine> {
    while (!this.signal.aborted) {
      const next = this.pending.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}
