import type { Headers } from '../headers.js';
import type { ResolvedStreamConfig } from '../streams.js';

export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly timestamp: number;
}

/** A stream's messages in sequence order, with the ids it has seen inside its duplicate window. */
export class MemoryStream {
  readonly messages = new Map<number, StoredMessage>();
  private lastSeq = 0;
  private readonly ids = new Map<string, { seq: number; at: number }>();

  constructor(public config: ResolvedStreamConfig) {}

  get last(): number {
    return this.lastSeq;
  }

  /** The earlier message's sequence when `msgId` was seen inside the window, else undefined. */
  duplicateOf(msgId: string | undefined): number | undefined {
    return msgId === undefined ? undefined : this.ids.get(msgId)?.seq;
  }

  /** Takes the next sequence; the message is kept only when `keep` (an interest stream nobody listens to keeps nothing). */
  append(message: Omit<StoredMessage, 'seq'>, msgId: string | undefined, keep: boolean): number {
    const seq = ++this.lastSeq;
    if (msgId !== undefined) this.ids.set(msgId, { seq, at: message.timestamp });
    if (keep) this.messages.set(seq, { ...message, seq });
    return seq;
  }

  /** Drops messages past maxAge and forgets ids past the duplicate window. */
  expire(now: number): void {
    const { maxAgeMs, duplicateWindowMs } = this.config;
    if (maxAgeMs > 0) {
      for (const [seq, message] of this.messages) {
        if (now - message.timestamp < maxAgeMs) break;
        this.messages.delete(seq);
      }
    }
    for (const [id, seen] of this.ids) {
      if (now - seen.at < duplicateWindowMs) break;
      this.ids.delete(id);
    }
  }
}
