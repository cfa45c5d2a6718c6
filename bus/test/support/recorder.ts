import { eventually } from '@nimbus/testkit';
import type { BusMessage, MessageHandler } from '../../src/index.js';

export interface Seen {
  readonly message: BusMessage;
  /** Date.now() when the handler was called. */
  readonly at: number;
  /** Which subscription saw it. */
  readonly by: string;
}

const text = new TextDecoder();

/** Records every delivery to the handlers it makes, for tests to wait on and count. */
export class Recorder {
  readonly seen: Seen[] = [];

  handler(by: string, act: (message: BusMessage) => unknown = (m) => m.ack()): MessageHandler {
    return async (message) => {
      this.seen.push({ message, at: Date.now(), by });
      await act(message);
    };
  }

  async waitFor(count: number, what = `${count} deliveries`, ms = 10_000): Promise<Seen[]> {
    return eventually(() => (this.seen.length >= count ? this.seen : undefined), ms, what);
  }

  bodies(): string[] {
    return this.seen.map((s) => text.decode(s.message.data));
  }

  countOf(body: string): number {
    return this.bodies().filter((b) => b === body).length;
  }
}

const encoder = new TextEncoder();
export const bytes = (s: string): Uint8Array => encoder.encode(s);

/** Resolves after `ms`: for asserting that nothing happens within a window, never for waiting on a condition. */
export function observeFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A promise with its resolver, for a handler that holds a message until the test lets go. It
 * opens by itself after `deadlineMs`, so a failed test never leaves a handler hanging.
 */
export function gate(deadlineMs = 10_000): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  setTimeout(open, deadlineMs).unref();
  return { promise, open };
}
