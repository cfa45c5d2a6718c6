import { get } from 'node:http';

export interface Reply {
  /** 0 when there was no HTTP answer (refused, reset, timed out). */
  readonly status: number;
  readonly body: string;
}

/** One GET on a fresh connection (no agent, so no socket is reused between probes). */
export function probe(url: string, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Poll {
  /** performance.now() after which polling gives up. */
  readonly deadline: number;
  readonly intervalMs: number;
  /** Checked between probes: a server that has died will never answer. */
  readonly stillRunning: () => boolean;
}

/**
 * Probes until the first 200 and returns performance.now() of its arrival. Throws at the
 * deadline or when the server has stopped running.
 */
export async function firstOk(url: string, poll: Poll): Promise<number> {
  for (;;) {
    const remaining = poll.deadline - performance.now();
    if (remaining <= 0) throw new Error(`no 200 from ${url} before the deadline`);
    const reply = await probe(url, remaining);
    if (reply.status === 200) return performance.now();
    if (!poll.stillRunning()) throw new Error(`the server behind ${url} exited before answering 200`);
    await sleep(poll.intervalMs);
  }
}
