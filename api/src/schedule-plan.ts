import { Cron } from 'croner';
import type { FunctionResource, ScheduleTrigger } from './function.js';

/** One cron trigger of one Function. */
export interface Schedule {
  /** `namespace/name#index`: stable while the Function keeps its triggers in order. */
  readonly key: string;
  readonly namespace: string;
  readonly function: string;
  readonly index: number;
  readonly cron: string;
  readonly timezone: string;
  readonly body: string | undefined;
  /** When the next tick after a time falls; null when the pattern never fires again. */
  next(after: number): number | null;
}

/** A cron trigger that cannot run: the field at fault and why. */
export interface ScheduleProblem {
  readonly field: string;
  readonly message: string;
}

/**
 * A Function's cron triggers, parsed (5 fields, or 6 with seconds first; a time zone, UTC unless
 * given). Pure. A pattern or a time zone croner refuses is a problem naming the field, never a
 * crash of the scheduler.
 */
export function schedulesOf(fn: FunctionResource): { schedules: Schedule[]; problems: ScheduleProblem[] } {
  const schedules: Schedule[] = [];
  const problems: ScheduleProblem[] = [];
  const { namespace, name } = fn.metadata;
  for (const [index, trigger] of (fn.spec.triggers ?? []).entries()) {
    if (!('schedule' in trigger)) continue;
    const { cron, timezone = 'UTC', body } = (trigger as ScheduleTrigger).schedule;
    const field = `spec.triggers[${index}].schedule`;
    const fields = cron.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      problems.push({
        field: `${field}.cron`,
        message: `"${cron}" has ${fields} fields; a cron pattern has 5, or 6 with seconds first`,
      });
      continue;
    }
    let pattern: Cron;
    try {
      pattern = new Cron(cron, { timezone, paused: true, legacyMode: true });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const zone = /time ?zone/i.test(message) || !validTimezone(timezone);
      problems.push({
        field: `${field}.${zone ? 'timezone' : 'cron'}`,
        message: `${zone ? timezone : cron}: ${message}`,
      });
      continue;
    }
    if (!validTimezone(timezone)) {
      problems.push({ field: `${field}.timezone`, message: `"${timezone}" is not an IANA time zone` });
      continue;
    }
    schedules.push({
      key: `${namespace}/${name}#${index}`,
      namespace,
      function: name,
      index,
      cron,
      timezone,
      body,
      next: (after) => pattern.nextRun(new Date(after))?.getTime() ?? null,
    });
  }
  return { schedules, problems };
}

function validTimezone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What to do at `now` for one schedule whose ticks up to `after` are handled. */
export interface DueTicks {
  /** Ticks to fire, oldest first. */
  readonly fire: number[];
  /** Ticks skipped: missed by more than the catch-up window. */
  readonly missed: number;
}

/** More ticks than this in one pass are counted as missed: a pattern firing every second after an hour away. */
const MAX_TICKS_PER_PASS = 100;

/**
 * The ticks in `(after, now]`. Pure. The policy for ticks missed while no gateway ran: one that
 * fell due less than `catchUpMs` ago fires late; an older one is skipped and counted as missed.
 * So a gateway that starts after a short gap fires the tick it just missed, and a schedule that
 * was down for hours does not fire a burst of stale ticks.
 */
export function dueTicks(
  schedule: Pick<Schedule, 'next'>,
  after: number,
  now: number,
  catchUpMs: number,
): DueTicks {
  const fire: number[] = [];
  let missed = 0;
  for (let tick = schedule.next(after); tick !== null && tick <= now; tick = schedule.next(tick)) {
    if (now - tick > catchUpMs || fire.length >= MAX_TICKS_PER_PASS) missed++;
    else fire.push(tick);
    if (missed + fire.length > 100_000) break;
  }
  return { fire, missed };
}
