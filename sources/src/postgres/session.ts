import type { Clock, PostgresOperation } from '@nimbus/api';
import type pg from 'pg';
import type { SourceEvent, SourceSink } from '../source.js';
import { ChangeDecoder } from './change-events.js';
import { ConfirmTracker, type TrackedTransaction } from './confirm-tracker.js';
import { type PostgresTarget, connectClient, describeError } from './connection.js';
import { parseLsn } from './lsn.js';
import { decodePgOutput } from './pgoutput.js';
import { type ReplicationStream, startReplication } from './replication.js';

/**
 * Confirmations sent to the server in one status update while stores are still in flight: each
 * update is a write on the replication connection, and under load one went out for every event.
 * Once nothing is in flight, what is confirmed goes out at once.
 */
const CONFIRMS_PER_STATUS = 64;

export interface SessionOptions {
  readonly target: PostgresTarget;
  /** The slot, and the publication of the same name. */
  readonly slot: string;
  readonly operations: ReadonlySet<PostgresOperation>;
  readonly sink: SourceSink;
  readonly clock: Clock;
  /** Events handed to the sink and not stored yet, at most; past it the socket is paused. */
  readonly window: number;
  /** The slot's lag in bytes, whenever the server says where it is. */
  readonly backlog: (bytes: number) => void;
}

/**
 * One replication connection, from START_REPLICATION until it fails or is closed. Hands each row
 * change to the sink in commit order, with up to `window` stores at once, and confirms to the slot
 * only whole transactions whose events are all stored. A session is never reused: after a failure
 * the reader opens a new one, which starts again where the slot was confirmed.
 */
export class ReplicationSession {
  private readonly decoder: ChangeDecoder;
  private tracker!: ConfirmTracker;
  private stream!: ReplicationStream;
  private transaction: TrackedTransaction | undefined;
  private received = 0n;
  private inFlight = 0;
  private paused = false;
  private closing = false;
  private statusQueued = false;
  /** Transactions confirmed since the last status update. */
  private unsent = 0;
  private failure: Error | undefined;
  private onFailure: (err: Error) => void = () => {};
  private closed: () => void = () => {};
  private onSettled: (() => void) | undefined;
  /** Settles when the session ends: rejects with why, unless `close()` ended it. */
  readonly done: Promise<void>;

  private constructor(
    private readonly options: SessionOptions,
    private readonly client: pg.Client,
  ) {
    this.decoder = new ChangeDecoder(options.target.source, options.operations);
    this.done = new Promise<void>((resolve, reject) => {
      this.onFailure = reject;
      this.closed = resolve;
    });
    this.done.catch(() => {}); // the reader awaits it
  }

  /** Connects, checks the slot, and starts streaming; `backlog` hears the slot's lag at once. */
  static async open(options: SessionOptions): Promise<ReplicationSession> {
    let session: ReplicationSession | undefined;
    const client = await connectClient(options.target, {
      replication: true,
      onLost: (err) => session?.fail(err),
    });
    try {
      session = new ReplicationSession(options, client);
      await session.begin();
      return session;
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
  }

  private async begin(): Promise<void> {
    const { slot } = this.options;
    const result = await this.client.query<{ confirmed: string | null; lag: string | null }>(
      `SELECT confirmed_flush_lsn::text AS confirmed, (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag
         FROM pg_replication_slots WHERE slot_name = '${slot}'`,
    );
    const row = result.rows[0];
    if (row === undefined)
      throw new Error(`the replication slot ${slot} does not exist: the trigger is not provisioned`);
    if (row.confirmed === null) throw new Error(`the replication slot ${slot} is not a logical slot`);
    this.tracker = new ConfirmTracker(parseLsn(row.confirmed));
    this.stream = await startReplication(this.client, slot, slot, {
      data: (message, lsn) => this.data(message, lsn),
      keepalive: (walEnd, replyRequested) => this.keepalive(walEnd, replyRequested),
      fail: (err) => this.fail(err),
    });
    this.stream.ended.then(
      () => this.fail(new Error('the server ended replication')),
      (err: Error) => this.fail(err),
    );
    this.options.backlog(Math.max(0, Number(row.lag ?? 0)));
  }

  /** Where the slot is confirmed now (what this session last confirmed, or where it began). */
  get confirmed(): bigint {
    return this.tracker.confirmed;
  }

  private data(message: Buffer, lsn: bigint): void {
    if (lsn > this.received) this.received = lsn;
    const step = this.decoder.take(decodePgOutput(message));
    switch (step.kind) {
      case 'begin':
        this.transaction = this.tracker.begin();
        break;
      case 'event':
        if (this.transaction === undefined) throw new Error('an event outside a transaction');
        this.store(step.event, this.transaction);
        break;
      case 'commit':
        if (this.transaction !== undefined && this.tracker.committed(this.transaction, step.endLsn))
          this.confirmedMore();
        if (step.endLsn > this.received) this.received = step.endLsn;
        this.transaction = undefined;
        break;
      case 'none':
        break;
    }
  }

  private store(event: SourceEvent, transaction: TrackedTransaction): void {
    this.tracker.added(transaction);
    this.inFlight++;
    if (this.inFlight >= this.options.window && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.options.sink.store(event).then(
      () => {
        this.inFlight--;
        if (this.tracker.stored(transaction)) this.confirmedMore();
        else if (this.inFlight === 0 && this.unsent > 0) this.queueStatus();
        if (this.paused && !this.closing && this.inFlight <= this.options.window / 2) {
          this.paused = false;
          this.stream.resume();
        }
        this.settle();
      },
      (err: unknown) => {
        this.inFlight--;
        this.settle();
        this.fail(
          new Error(`the sink did not store event ${event.id}: ${describeError(this.options.target, err)}`),
        );
      },
    );
  }

  private keepalive(walEnd: bigint, replyRequested: boolean): void {
    if (walEnd > this.received) this.received = walEnd;
    const moved = this.tracker.caughtUp(walEnd);
    if (replyRequested) this.sendStatus();
    else if (moved) this.queueStatus();
    this.options.backlog(Math.max(0, Number(walEnd - this.tracker.confirmed)));
  }

  /** A transaction is confirmed: said to the server now if nothing is in flight, else with others. */
  private confirmedMore(): void {
    this.unsent++;
    if (this.inFlight === 0 || this.unsent >= CONFIRMS_PER_STATUS) this.queueStatus();
  }

  /** One status update for a burst of confirmations, sent once the current frames are handled. */
  private queueStatus(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      this.sendStatus();
    });
  }

  private sendStatus(): void {
    if (this.failure !== undefined) return;
    this.unsent = 0;
    try {
      this.stream.sendStatus(this.received, this.tracker.confirmed, this.options.clock.now());
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private settle(): void {
    if (this.inFlight === 0) this.onSettled?.();
  }

  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    if (this.closing) this.closed();
    else this.onFailure(err);
    this.client.end().catch(() => {});
  }

  /** Reads no more, waits for the stores in flight, confirms what they made safe, and disconnects. */
  async close(): Promise<void> {
    if (this.closing) return this.done;
    this.closing = true;
    this.stream.pause();
    // Frames already read are handled, as they were when each read was handled whole: a commit
    // left queued behind its stored rows would leave them unconfirmed, to be read again.
    this.stream.flush();
    if (this.inFlight > 0)
      await new Promise<void>((resolve) => {
        this.onSettled = resolve;
      });
    this.sendStatus();
    this.failure ??= new Error('closed');
    this.closed();
    await this.client.end().catch(() => {});
  }
}
