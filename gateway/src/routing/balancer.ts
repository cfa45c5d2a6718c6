import type { Endpoint } from './route-table.js';

/**
 * Least in-flight: the replica with the fewest requests this gateway has sent it and not yet
 * seen answered. Ties go round-robin from `start`, so equal replicas share the load evenly.
 * `exclude` holds replicas that already failed to connect for this request.
 */
export function pickEndpoint(
  endpoints: readonly Endpoint[],
  start: number,
  exclude?: ReadonlySet<Endpoint>,
): Endpoint | undefined {
  const count = endpoints.length;
  let best: Endpoint | undefined;
  for (let i = 0; i < count; i++) {
    const candidate = endpoints[(start + i) % count] as Endpoint;
    if (exclude?.has(candidate)) continue;
    if (best === undefined || candidate.inflight < best.inflight) best = candidate;
    if (best.inflight === 0) break;
  }
  return best;
}
