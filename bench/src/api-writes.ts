import type { ControlPlane } from '@nimbus/test/harness/control-plane/control-plane';

/** Objects a bench keeps in flight while it creates them on the test control plane. */
export const IN_FLIGHT = 16;

/** Runs jobs `from`..`to`-1 with at most IN_FLIGHT at once; fails on the first failure. */
export async function inFlight(from: number, to: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < to; i = next++) await job(i);
    }),
  );
}

/** POSTs `body` to `path`; anything but 201 Created fails, with the server's message. */
export async function expectCreated(plane: ControlPlane, path: string, body: unknown): Promise<void> {
  const reply = await plane.request<{ message?: string }>('POST', path, body);
  if (reply.status !== 201) throw new Error(`POST ${path}: ${reply.status} ${reply.body.message}`);
}
