import { type Socket, connect } from 'node:net';

export interface LaneAnswer {
  readonly status: number;
  /** The X-Call-Id header, when there was one. */
  readonly callId: string | undefined;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * One kept-alive HTTP/1.1 connection that sends a request, reads the answer's status, X-Call-Id
 * and body length, and sends the next: the load generator of the async benchmark, lean so that it
 * leaves the machine's two cores to the gateway and its Redis and NATS (node:http's client costs
 * several times more per request). It expects Content-Length answers, which the gateway gives.
 */
export class Lane {
  private socket: Socket | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve: (answer: LaneAnswer) => void; reject: (err: Error) => void } | undefined;

  constructor(private readonly port: number) {}

  post(path: string, body: string, headers: string): Promise<LaneAnswer> {
    const socket = this.socket ?? this.open();
    const length = Buffer.byteLength(body);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}content-length: ${length}\r\n\r\n${body}`,
      );
    });
  }

  /** `post`, throwing unless the answer's status is `want`: a driver's request that must land. */
  async expect(path: string, body: string, headers: string, want: number): Promise<void> {
    const answer = await this.post(path, body, headers);
    if (answer.status !== want) throw new Error(`${path} answered ${answer.status}, not ${want}`);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    const socket = connect(this.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    const fail = (err: Error) => {
      this.socket = undefined;
      this.buffered = Buffer.alloc(0);
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the gateway closed the connection')));
    this.socket = socket;
    return socket;
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADER_END);
    if (end === -1) return;
    const head = this.buffered.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const total = end + HEADER_END.length + length;
    if (this.buffered.length < total) return;
    this.buffered = this.buffered.subarray(total);
    const status = Number(head.slice(9, 12));
    const callId = /\r\nx-call-id: *([^\r]+)/i.exec(head)?.[1];
    const pending = this.pending;
    this.pending = undefined;
    if (/\r\nconnection: *close/i.test(head)) this.close();
    pending?.resolve({ status, callId });
  }
}

export interface Sent {
  readonly ids: string[];
  readonly refused: number;
  readonly acceptLatenciesMs: number[];
  readonly startedAt: number;
  readonly lastAcceptedAt: number;
}

/**
 * `count` async calls from `lanes` kept-alive connections; each lane sends its next call when its
 * last is answered. With `ratePerS`, call n is not sent before n / ratePerS seconds from the
 * start (an open-loop pace, as long as a lane is free), so the gateway sees a steady offered rate.
 */
export async function sendCalls(
  port: number,
  count: number,
  lanes: number,
  ratePerS?: number,
): Promise<Sent> {
  const ids: string[] = [];
  const acceptLatenciesMs: number[] = [];
  let refused = 0;
  let next = 0;
  let lastAcceptedAt = 0;
  const open = Array.from({ length: lanes }, () => new Lane(port));
  const startedAt = performance.now();
  try {
    await Promise.all(
      open.map(async (lane) => {
        while (next < count) {
          const n = next++;
          if (ratePerS !== undefined) {
            // A schedule to keep, not a condition to wait for.
            const due = startedAt + (n * 1000) / ratePerS - performance.now();
            if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
          }
          const sent = performance.now();
          const answer = await lane.post(
            `/async-function/hello?name=n${n}`,
            `call ${n}`,
            'content-type: text/plain\r\n',
          );
          const now = performance.now();
          if (answer.status === 202 && answer.callId !== undefined) {
            ids.push(answer.callId);
            acceptLatenciesMs.push(now - sent);
            lastAcceptedAt = now;
          } else refused++;
        }
      }),
    );
  } finally {
    for (const lane of open) lane.close();
  }
  return { ids, refused, acceptLatenciesMs, startedAt, lastAcceptedAt };
}
