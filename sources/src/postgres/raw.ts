import { connectClient, parseConnectionUrl } from './connection.js';
import { startReplication } from './replication.js';

/** pgoutput's Insert, Update and Delete message codes. */
const CHANGE_CODES = new Set([0x49, 0x55, 0x44]);

/**
 * The baseline the benchmark measures the reader against: a bare replication client that streams
 * `slot` (and the publication of the same name), counts row-change messages without decoding them,
 * and stops at `count`. It confirms nothing, so the reader can read the same changes afterwards.
 * Fails after `timeoutMs` when fewer changes come.
 */
export async function readRawChanges(
  url: string,
  slot: string,
  count: number,
  timeoutMs = 120_000,
): Promise<{ changes: number; elapsedMs: number }> {
  const target = parseConnectionUrl(url, 'url');
  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {}); // raced below; a loss after the count is reached is no failure
  const client = await connectClient(target, { replication: true, onLost: (err) => fail(err) });
  const started = performance.now();
  let changes = 0;
  let done: () => void = () => {};
  const counted = new Promise<void>((resolve) => {
    done = resolve;
  });
  const timer = setTimeout(
    () => fail(new Error(`read ${changes} of ${count} changes in ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await startReplication(client, slot, slot, {
      data: (message) => {
        if (CHANGE_CODES.has(message[0] as number) && ++changes === count) done();
      },
      keepalive: () => {},
      fail: (err) => fail(err),
    });
    await Promise.race([counted, failed]);
    return { changes, elapsedMs: performance.now() - started };
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => {});
  }
}
