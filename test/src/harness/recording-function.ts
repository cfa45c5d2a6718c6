import assert from 'node:assert/strict';
import { join } from 'node:path';
import { inlineFunction } from './fixtures.js';

/**
 * Appends each CloudEvent it receives to the file RECORD_FILE names (which outlives a gateway
 * killed mid-stream); GET lists them. Data with "fail", or that mentions "poison" anywhere (a row's
 * column, an object's key), makes it answer 500 unless a file `<RECORD_FILE>.accept` exists; while a
 * file `<RECORD_FILE>.hold` exists it answers 503 and records nothing, so events wait in the durable path.
 */
const RECORDER = `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
const file = process.env.RECORD_FILE;
export default async (event) => {
  if (event.method === 'GET') {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch {}
    return { seen: text.split('\\n').filter(Boolean).map((l) => JSON.parse(l)) };
  }
  if (existsSync(file + '.hold')) return { statusCode: 503, body: 'held' };
  const ce = event.cloudEvent;
  appendFileSync(file, JSON.stringify({ id: ce?.id, type: ce?.type, subject: ce?.subject, data: ce?.data }) + '\\n');
  const poison = ce?.data && (ce.data.fail || JSON.stringify(ce.data).includes('poison'));
  if (poison && !existsSync(file + '.accept')) return { statusCode: 500, body: 'cannot take this one' };
  return { ok: true };
};`;

/** One CloudEvent as the recording function saw it. */
export interface Seen {
  id: string;
  type: string;
  subject?: string;
  data: Record<string, unknown>;
}

/**
 * A recording Function `name` with one replica and the given `triggers:` entries (YAML lines, two
 * spaces in, as under spec.triggers).
 */
export function recordingFunction(at: { readonly records: string }, name: string, triggers: string): string {
  return inlineFunction(
    name,
    RECORDER,
    `scale:\n  min: 1\n  max: 1\nenv:\n  - name: RECORD_FILE\n    value: ${join(at.records, `${name}.jsonl`)}\ntriggers:\n${triggers}`,
  );
}

/** The ids of events whose data carries a numeric `bulk`, as the fixture's publishers send. */
export const bulkIds = (seen: readonly Seen[]): Set<string> =>
  new Set(seen.flatMap((e) => (typeof e.data.bulk === 'number' ? [e.id] : [])));

/**
 * At least once, visibly once by id: `count` distinct ids among `ids`, and any event seen again
 * carries the same data (so a handler that dedupes on ce-id acts once). Returns the repeats.
 */
export function assertOncePerId(
  label: string,
  seen: readonly Seen[],
  ids: Set<string>,
  count: number,
): number {
  assert.equal(ids.size, count, `${label}: every event, by ${count} distinct ids`);
  const byId = new Map<string, string>();
  let repeats = 0;
  for (const e of seen) {
    if (!ids.has(e.id)) continue;
    const data = JSON.stringify(e.data);
    const before = byId.get(e.id);
    if (before !== undefined) repeats++;
    assert.equal(before ?? data, data, `${label}: ${e.id} came again with other data`);
    byId.set(e.id, data);
  }
  return repeats;
}
