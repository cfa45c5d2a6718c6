import { Cron } from 'croner';
import type { ConcurrencyPolicy, FunctionResource, ScheduleTrigger } from './function.js';

/** One cron trigger of one Function. */
export interface Schedule {
  /** `namespace/name#index`: stable while the Function keeps its triggers in order. */
  readonly key: string;
  readonly namespace: string;
  readonly function: string;
  readonly index: number;
  /** The Function's uid where it has one (a cluster): made again under its name, it is a new schedule. */
  readonly uid: string | undefined;
  readonly cron: string;
  readonly timezone: string;
  readonly body: string | undefined;
  /** What a tick does while the previous run still runs: Allow, Forbid or Replace. */
  readonly concurrencyPolicy: ConcurrencyPolicy;
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
    const {
      cron,
      timezone = 'UTC',
      body,
      concurrencyPolicy = 'Allow',
    } = (trigger as ScheduleTrigger).schedule;
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
      uid: fn.metadata.uid,
      cron,
      timezone,
      body,
      concurrencyPolicy,
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
  /** Ticks skipped: missed by more than the catch-up window, or beyond the most a pass fires. */
  readonly missed: number;
}

export interface TickPolicy {
  /** A tick that fell due less than this long ago still fires late. */
  readonly catchUpMs: number;
  /** The most ticks one pass fires (the latest ones); earlier due ticks count as missed. */
  readonly maxFire: number;
}

/**
 * The ticks in `(after, now]`. Pure. Of those that fell due less than `catchUpMs` ago, the latest
 * `maxFire` fire (late, if the pass was late); the rest are missed. So a pass held up by a busy
 * event loop fires the tick or two it just missed, and nothing ever fires a burst of stale ticks.
 */
export function dueTicks(
  schedule: Pick<Schedule, 'next'>,
  after: number,
  now: number,
  policy: TickPolicy,
): DueTicks {
  const inWindow: number[] = [];
  let missed = 0;
  let seen = 0;
  for (let tick = schedule.next(after); tick !== null && tick <= now; tick = schedule.next(tick)) {
    if (now - tick > policy.catchUpMs) missed++;
    else inWindow.push(tick);
    if (++seen > 100_000) break;
  }
  const fire = inWindow.slice(Math.max(0, inWindow.length - policy.maxFire));
  return { fire, missed: missed + inWindow.length - fire.length };
}

/**
 * Where a replica that has just come to see a schedule starts: the ticks after it may fire.
 * Pure. `firstSeenAt` is when any replica first saw the schedule (kept in the shared store), or
 * undefined when it cannot be known (store out of reach). Never before the schedule was first
 * seen, so a new schedule starts from now and replays nothing; never before the catch-up window,
 * so a gateway that restarts (or takes over from one that stopped) fires at most the one latest
 * tick it missed, when the pass also fires one tick only (maxFire 1).
 */
export function resumePoint(firstSeenAt: number | undefined, now: number, catchUpMs: number): number {
  if (firstSeenAt === undefined || !Number.isFinite(firstSeenAt)) return now;
  return Math.max(firstSeenAt, now - catchUpMs);
}
