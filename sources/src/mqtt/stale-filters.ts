import type { Logger } from '@nimbus/api';
import type { MqttClient } from 'mqtt';
import type { SourceCheckpoint } from '../source.js';

/** The checkpoint field that holds the filters the trigger's session is subscribed to. */
const FILTERS = 'filters';

/**
 * A persistent session keeps its subscriptions: a filter dropped from the trigger (or now covered
 * by a wider one, which would bring messages twice) would go on filling it. MQTT cannot list a
 * session's subscriptions, so the reader remembers what it subscribed in the trigger's checkpoint
 * and unsubscribes what is no longer there. A checkpoint that cannot be read or written costs only
 * this tidying: it is logged, and reading goes on.
 */
export async function unsubscribeStale(
  client: MqttClient,
  checkpoint: SourceCheckpoint,
  filters: readonly string[],
  log: Logger,
): Promise<void> {
  try {
    const saved = (await checkpoint.entries()).get(FILTERS);
    const previous = saved === undefined ? [] : parseFilters(saved);
    const stale = previous.filter((filter) => !filters.includes(filter));
    if (stale.length > 0) {
      await client.unsubscribeAsync(stale);
      log.info('mqtt source unsubscribed filters the trigger no longer has', { filters: stale });
    }
    const now = JSON.stringify([...filters].sort());
    if (saved !== now) await checkpoint.set(new Map([[FILTERS, now]]));
  } catch (err) {
    log.warn('mqtt source could not tidy its subscriptions', { error: String(err) });
  }
}

function parseFilters(saved: string): string[] {
  const value: unknown = JSON.parse(saved);
  return Array.isArray(value) ? value.filter((f): f is string => typeof f === 'string') : [];
}
