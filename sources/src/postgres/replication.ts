import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { msToPgTime } from './lsn.js';
import { ProtocolError } from './pgoutput.js';

/**
 * The streaming half of a logical replication connection: START_REPLICATION over a `replication=
 * database` connection, then CopyData both ways. From the server: XLogData (`w`, a pgoutput message
 * and its WAL position) and keepalives (`k`); to it: standby status updates (`r`), which is how a
 * logical slot's confirmed position moves. pg gives the CopyData frames on its connection object;
 * this reads and writes what is inside them.
 */

/** The parts of pg's Connection a replication stream uses (not in pg's published types). */
interface WalConnection {
  readonly stream: Duplex;
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): unknown;
  once(event: 'replicationStart', listener: () => void): unknown;
  removeAllListeners(event: string): unknown;
  sendCopyFromChunk(chunk: Buffer): void;
}

export interface ReplicationHandlers {
  /** One pgoutput message and the WAL position of the record it comes from. */
  data(message: Buffer, lsn: bigint): void;
  /** The server's sent position; `replyRequested`: answer now, or it times the connection out. */
  keepalive(walEnd: bigint, replyRequested: boolean): void;
  /** A frame that could not be read, or a handler that threw: the stream is no good any more. */
  fail(err: Error): void;
}

const NAME = /^[a-z0-9_]{1,63}$/;

/**
 * The longest the frames of one socket read are handled for before the event loop takes its
 * other work (ms). pg hands over every frame of a read at once, and a read during a burst holds
 * hundreds of row changes: handled in one go, each a store, they held the gateway's thread for
 * milliseconds while the answer to the call an in-order trigger was waiting on sat unread (its
 * calls took 3.8 ms on average during a burst of stores, 0.55 ms after it).
 */
const TURN_BUDGET_MS = 0.5;
/** Frames read and not handled yet, at most: past it the socket is paused until half are. */
const MAX_QUEUED_FRAMES = 4096;

export interface ReplicationStream {
  /** Settles when the server ends the stream or the connection goes: rejects with why. */
  readonly ended: Promise<void>;
  /**
   * Tells the server how far this reader is. `received`: all WAL up to here arrived (lets a fast
   * shutdown finish); `confirmed`: the slot may move here, as everything before it is safe.
   */
  sendStatus(received: bigint, confirmed: bigint, now: number): void;
  /** Stops reading from the socket, so the server's sends back up: backpressure. */
  pause(): void;
  resume(): void;
  /** Handles every frame already read, now, held or not (for a clean close). */
  flush(): void;
}

/**
 * Starts streaming `slot` for `publication` (pgoutput protocol 1) on a replication connection,
 * resolving once the server has begun (CopyBothResponse). Decoding happens in `handlers`, as the
 * frames arrive.
 */
export async function startReplication(
  client: pg.Client,
  slot: string,
  publication: string,
  handlers: ReplicationHandlers,
): Promise<ReplicationStream> {
  // Both come from slotName(): plain lower-case names, which is what keeps this text safe.
  if (!NAME.test(slot) || !NAME.test(publication))
    throw new Error('a replication slot or publication name that is not [a-z0-9_]');
  const connection = client.connection as unknown as WalConnection;
  const ended = new Promise<void>((resolve, reject) => {
    client.query(
      `START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names '${publication}')`,
      (err: Error | undefined) => (err ? reject(err) : resolve()),
    );
  });
  ended.catch(() => {}); // the caller awaits it; a failure before then is seen through `started`
  const started = new Promise<void>((resolve, reject) => {
    connection.once('replicationStart', resolve);
    ended.then(() => reject(new Error('the server ended replication before it began')), reject);
  });
  // A throw here would escape into pg's socket handler and end the process: it goes to `fail`.
  const frames = new FrameQueue(connection.stream, (chunk) => {
    try {
      const kind = chunk[0];
      if (kind === 0x77 /* w */) {
        if (chunk.length < 25) throw new ProtocolError('an XLogData message ended early');
        handlers.data(chunk.subarray(25), chunk.readBigUInt64BE(1));
      } else if (kind === 0x6b /* k */) {
        if (chunk.length < 18) throw new ProtocolError('a keepalive message ended early');
        handlers.keepalive(chunk.readBigUInt64BE(1), chunk[17] === 1);
      }
    } catch (err) {
      frames.stop();
      handlers.fail(err instanceof Error ? err : new Error(String(err)));
    }
  });
  connection.on('copyData', ({ chunk }) => frames.push(chunk));
  // Frames still queued when the stream ends were not confirmed: the next session reads them again.
  ended.then(
    () => frames.stop(),
    () => frames.stop(),
  );
  try {
    await started;
  } catch (err) {
    connection.removeAllListeners('copyData');
    frames.stop();
    throw err;
  }
  return {
    ended,
    sendStatus(received, confirmed, now) {
      const message = Buffer.alloc(34);
      message.write('r', 0, 'latin1');
      message.writeBigUInt64BE(received > confirmed ? received : confirmed, 1); // written
      message.writeBigUInt64BE(confirmed, 9); // flushed: what moves the slot
      message.writeBigUInt64BE(confirmed, 17); // applied
      message.writeBigInt64BE(msToPgTime(now), 25);
      message.writeUInt8(0, 33);
      connection.sendCopyFromChunk(message);
    },
    pause: () => frames.hold(),
    resume: () => frames.release(),
    flush: () => frames.flush(),
  };
}

/**
 * The frames read from the replication socket, handled in arrival order a turn of the event loop
 * at a time (TURN_BUDGET_MS each), so other sockets are read in between. While held (the session's
 * backpressure) none is handled; while it holds MAX_QUEUED_FRAMES the socket is paused.
 */
class FrameQueue {
  private frames: Buffer[] = [];
  private next = 0;
  private held = false;
  private stopped = false;
  private scheduled = false;

  constructor(
    private readonly socket: Duplex,
    private readonly handle: (chunk: Buffer) => void,
  ) {}

  private get queued(): number {
    return this.frames.length - this.next;
  }

  /** `chunk` is a view of pg's read buffer, which pg reuses for the next read: it is copied. */
  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.frames.push(Buffer.from(chunk));
    if (this.queued >= MAX_QUEUED_FRAMES) this.socket.pause();
    this.schedule();
  }

  /** Handles no more frames until release(); the socket is paused, so the server's sends back up. */
  hold(): void {
    this.held = true;
    this.socket.pause();
  }

  release(): void {
    this.held = false;
    if (this.queued < MAX_QUEUED_FRAMES) this.socket.resume();
    this.schedule();
  }

  /** Handles every frame queued now, held or not, with no turn budget. */
  flush(): void {
    while (!this.stopped && this.queued > 0) this.handle(this.frames[this.next++] as Buffer);
    this.compact();
  }

  /** The stream is over: what is queued is dropped (it was never confirmed). */
  stop(): void {
    this.stopped = true;
    this.frames = [];
    this.next = 0;
  }

  /** Lets go of the frames already handled: all of them once none is left, else every 1,024. */
  private compact(): void {
    if (this.queued === 0) {
      this.frames = [];
      this.next = 0;
    } else if (this.next >= 1024) {
      this.frames = this.frames.slice(this.next);
      this.next = 0;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.held || this.stopped || this.queued === 0) return;
    this.scheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    const until = performance.now() + TURN_BUDGET_MS;
    while (!this.held && !this.stopped && this.queued > 0) {
      const chunk = this.frames[this.next] as Buffer;
      this.next++;
      this.handle(chunk);
      if (performance.now() >= until) break;
    }
    this.compact();
    if (!this.held && !this.stopped && this.queued < MAX_QUEUED_FRAMES / 2) this.socket.resume();
    this.schedule();
  };
}
