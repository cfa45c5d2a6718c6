import { eventually, send } from '@nimbus/testkit';

/** One request a sender must get through. */
export interface Push {
  readonly path: string;
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** What a retrying sender met on the way: answers other than 202 and requests with no answer. */
export interface SenderTally {
  accepted: number;
  /** No answer: refused connection, reset, or no reply in time (a gateway gone mid-request). */
  noAnswer: number;
  /** Answered with a status other than 202 (404 before the trigger is set up, 503 NotStored). */
  notAccepted: number;
}

/**
 * A sender as webhook senders and stores with a retry queue behave: each request is sent until it
 * is answered 202, again after no answer or any other status, `width` requests at a time, all
 * within `ms`. The same request goes again unchanged, so its ids (and signature) stay the same.
 * `tally` is filled in as it goes, for a caller that acts once some are accepted.
 */
export async function pushUntilAccepted(
  base: string,
  pushes: readonly Push[],
  options: { width?: number; ms?: number; tally?: SenderTally } = {},
): Promise<SenderTally> {
  const tally = options.tally ?? { accepted: 0, noAnswer: 0, notAccepted: 0 };
  const deadline = Date.now() + (options.ms ?? 60_000);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < pushes.length; i = next++) {
      const push = pushes[i] as Push;
      await eventually(
        async () => {
          try {
            const reply = await send(base, push.path, {
              method: 'POST',
              body: push.body,
              headers: push.headers,
              timeoutMs: 10_000,
            });
            if (reply.status === 202) return true;
            tally.notAccepted++;
          } catch {
            tally.noAnswer++;
          }
          return undefined;
        },
        Math.max(0, deadline - Date.now()),
        `${push.path} to be accepted`,
      );
      tally.accepted++;
    }
  };
  await Promise.all(Array.from({ length: options.width ?? 1 }, worker));
  return tally;
}
