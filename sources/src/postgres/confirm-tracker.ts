/**
 * Which WAL position a reader may confirm to its slot: the end of the last transaction all of whose
 * events, and all of every transaction before it, the sink has stored. Stores may finish out of
 * order (they overlap); the confirmed position only ever moves forward over whole transactions, so
 * a crash at any moment gives again every event that was not safe yet, and never skips one.
 */
export interface TrackedTransaction {
  /** Events handed to the sink and not stored yet. */
  outstanding: number;
  /** Set at commit: where its commit record ends. */
  endLsn?: bigint;
}

export class ConfirmTracker {
  private readonly open: TrackedTransaction[] = [];

  constructor(
    /** Where the slot was confirmed when the session began. */
    private position: bigint,
  ) {}

  get confirmed(): bigint {
    return this.position;
  }

  /** No transaction is waiting on the sink or for its commit. */
  get idle(): boolean {
    return this.open.length === 0;
  }

  begin(): TrackedTransaction {
    const transaction: TrackedTransaction = { outstanding: 0 };
    this.open.push(transaction);
    return transaction;
  }

  added(transaction: TrackedTransaction): void {
    transaction.outstanding++;
  }

  /** True when the confirmed position moved. */
  stored(transaction: TrackedTransaction): boolean {
    transaction.outstanding--;
    return this.drain();
  }

  /** True when the confirmed position moved. */
  committed(transaction: TrackedTransaction, endLsn: bigint): boolean {
    transaction.endLsn = endLsn;
    return this.drain();
  }

  /**
   * The server says it has sent everything up to `sentLsn` and nothing is open here: no commit
   * before it is left to give, so the slot may move there too. Without this a slot whose tables
   * are quiet would hold the WAL of every other table's writes.
   */
  caughtUp(sentLsn: bigint): boolean {
    if (!this.idle || sentLsn <= this.position) return false;
    this.position = sentLsn;
    return true;
  }

  private drain(): boolean {
    let moved = false;
    for (let head = this.open[0]; head !== undefined; head = this.open[0]) {
      if (head.endLsn === undefined || head.outstanding > 0) break;
      this.open.shift();
      if (head.endLsn > this.position) {
        this.position = head.endLsn;
        moved = true;
      }
    }
    return moved;
  }
}
