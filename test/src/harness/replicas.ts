import { type Reply, type SendOptions, eventually, send } from '@nimbus/testkit';

/**
 * Sends until the answer is not 503, which local mode gives while a function's replica is still
 * starting, and returns the first other answer.
 */
export function once503Clears(
  base: string,
  path: string,
  options: SendOptions = {},
  ms = 15_000,
): Promise<Reply> {
  return eventually(
    async () => {
      const reply = await send(base, path, options);
      return reply.status === 503 ? undefined : reply;
    },
    ms,
    `${path} to have a ready replica`,
  );
}
