/** What sending a phase's events came to. Times are Date.now(), to compare with the replica's. */
export interface Driven {
  /** Just before the first event was handed to the origin. */
  readonly firstAt: number;
  /** When the origin took the last one. */
  readonly lastAt: number;
  /**
   * A backlog (events the origin took while their reader was held off): when the reader was let
   * go, where the end-to-end clock starts instead of at firstAt.
   */
  readonly releasedAt?: number;
  readonly sent: number;
  readonly failed: number;
  /** How long the origin took to take each event sent (publish to its ack), in ms. */
  readonly publishMs: number[];
  /** The first failure, for the report: a failed publish is counted, not retried. */
  readonly firstError?: string;
}

/**
 * Hands `count` events to `send` from `lanes` concurrent senders; each lane sends its next when
 * the origin has taken its last. With `ratePerS`, event n is not sent before n / ratePerS seconds
 * from the start (an open-loop pace while a lane is free). Bounded: no event is sent after
 * `deadlineMs`; the ones left are neither sent nor failed.
 */
export async function drive(
  count: number,
  lanes: number,
  send: (n: number, lane: number) => Promise<void>,
  options: { ratePerS?: number; deadlineMs?: number } = {},
): Promise<Driven> {
  const { ratePerS, deadlineMs = 60_000 } = options;
  const started = performance.now();
  const firstAt = Date.now();
  let next = 0;
  let sent = 0;
  let failed = 0;
  let lastAt = firstAt;
  let firstError: string | undefined;
  const publishMs: number[] = [];
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      while (next < count && performance.now() - started < deadlineMs) {
        const n = next++;
        if (ratePerS !== undefined) {
          // A schedule to keep, not a condition to wait for.
          const due = started + (n * 1000) / ratePerS - performance.now();
          if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
        }
        const sending = performance.now();
        try {
          await send(n, lane);
          publishMs.push(performance.now() - sending);
          sent++;
          lastAt = Date.now();
        } catch (error) {
          failed++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  return { firstAt, lastAt, sent, failed, publishMs, ...(firstError === undefined ? {} : { firstError }) };
}

/** A JSON payload that carries its phase, number and publish time (the origin stamp of brokers and webhooks). */
export function stampedBody(phase: string, n: number): string {
  return JSON.stringify({ phase, n, t: Date.now() });
}
