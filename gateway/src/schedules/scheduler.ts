import { createHash } from 'node:crypto';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { type Schedule, dueTicks, resumePoint } from '@nimbus/api';
import { type LeaseClaims, RunLeases } from './run-leases.js';

/**
 * Who may fire a tick: the first replica to claim its key (ClaimStore's claim, SET NX PX in
 * Redis); when a schedule was first seen (`holder`); and the leases of runs (RunLeases).
 */
export interface TickClaims extends LeaseClaims {
  holder(key: string): Promise<string | undefined>;
}

/** What a fired tick becomes: an invocation of the function carrying a CloudEvent, cancelled by `signal`. */
export interface TickSink {
  fire(schedule: Schedule, tickAt: number, signal: AbortSignal): Promise<void>;
}

export interface SchedulerSettings {
  /** This replica's name in its claims. */
  readonly owner: string;
  /** A tick missed by less than this still fires (see dueTicks). */
  readonly catchUpMs: number;
  /** How often the schedules are looked at: the most a tick fires late while all runs well. */
  readonly passMs: number;
  /** How long a run's lease (Forbid, Replace) outlives a gateway that died holding it. */
  readonly leaseMs: number;
}

export interface SchedulerMetrics {
  fired(schedule: Schedule): void;
  missed(schedule: Schedule, count: number): void;
  failed(schedule: Schedule, stage: 'claim' | 'fire'): void;
  /** Forbid: the tick did not run, the previous run still ran. */
  skipped(schedule: Schedule): void;
  /** Replace: the tick cancelled the run still running. */
  replaced(schedule: Schedule): void;
}

interface Tracked {
  schedule: Schedule;
  /** Ticks up to here are handled (fired by some replica, or skipped). */
  after: number;
  /** When some replica first saw the schedule: kept alive while its ticks fire. */
  firstSeen: string | undefined;
}

/** The most ticks one pass fires, once a replica tracks a schedule: a pass held up a second or two catches up. */
const MAX_TICKS_PER_PASS = 3;
/** How long the record of when a schedule was first seen lasts without a tick to renew it. */
const FIRST_SEEN_TTL_MS = 7 * 86_400_000;

/**
 * Fires cron triggers exactly once per tick across every gateway replica. Each replica looks at
 * every schedule each pass; for each due tick it claims `schedule:<id>:<tick>` and only the
 * replica that wins fires it. When the claims cannot be reached (Redis away) the tick is not
 * fired: at most once rather than twice.
 *
 * Where a schedule starts: the first replica to see it records the time (`schedule-seen:<id>`),
 * and no replica ever fires a tick from before then, so a new schedule starts from now. A
 * replica that comes to a schedule others saw before (it started, restarted, or took over from
 * one that stopped) starts from that record or the catch-up window, whichever is later, and fires
 * at most the one latest tick in between (claimed, so not if another replica fired it). After
 * that a pass fires at most MAX_TICKS_PER_PASS late ticks; the rest count as missed.
 *
 * The id of a schedule holds its Function's uid and a hash of its pattern, so an edited schedule,
 * or a Function made again under its name, starts afresh. Its concurrency policy is held by
 * RunLeases across replicas.
 */
export class Scheduler {
  private readonly tracked = new Map<string, Tracked>();
  private readonly leases: RunLeases;
  private timer: unknown;
  private running = false;
  private pass: Promise<void> = Promise.resolve();
  /** Invocations of fired ticks still running: a slow function never holds up the next pass. */
  private readonly firing = new Set<Promise<void>>();

  constructor(
    private readonly schedules: () => Iterable<Schedule>,
    private readonly claims: TickClaims,
    private readonly sink: TickSink,
    private readonly clock: Clock,
    private readonly settings: SchedulerSettings,
    private readonly metrics: SchedulerMetrics,
    private readonly log: Logger,
  ) {
    this.leases = new RunLeases(claims, clock, settings, log);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** Stops after the pass in progress, and once the ticks it fired have been handed over. */
  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    await this.pass;
    await this.settled();
  }

  /** Resolves once every tick fired so far has been handed to the sink. */
  async settled(): Promise<void> {
    while (this.firing.size > 0) await Promise.allSettled([...this.firing]);
  }

  /** One look at every schedule at the clock's now; the loop calls it, and tests may. */
  runPass(): Promise<void> {
    this.pass = this.pass.then(() => this.look());
    return this.pass;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      if (!this.running) return;
      void this.runPass().finally(() => {
        if (this.running) this.schedule();
      });
    }, this.settings.passMs);
  }

  private async look(): Promise<void> {
    const now = this.clock.now();
    const seen = new Set<string>();
    const work: Promise<void>[] = [];
    for (const schedule of this.schedules()) {
      const id = scheduleId(schedule);
      seen.add(id);
      let tracked = this.tracked.get(id);
      let resuming = false;
      if (tracked === undefined) {
        const firstSeen = await this.firstSeen(id, schedule, now);
        tracked = {
          schedule,
          after: resumePoint(
            firstSeen === undefined ? undefined : Number(firstSeen),
            now,
            this.settings.catchUpMs,
          ),
          firstSeen,
        };
        this.tracked.set(id, tracked);
        resuming = true;
      }
      tracked.schedule = schedule;
      const { fire, missed } = dueTicks(schedule, tracked.after, now, {
        catchUpMs: this.settings.catchUpMs,
        maxFire: resuming ? 1 : MAX_TICKS_PER_PASS,
      });
      tracked.after = Math.max(tracked.after, now);
      // Resuming, the earlier ticks may well have fired on another replica: only a tracked schedule counts misses.
      if (missed > 0 && !resuming) {
        this.metrics.missed(schedule, missed);
        this.log.warn('cron ticks missed: a pass came too late to fire them', {
          schedule: schedule.key,
          missed,
        });
      }
      for (const tick of fire) work.push(this.claimAndFire(id, tracked, tick));
    }
    for (const id of this.tracked.keys()) if (!seen.has(id)) this.tracked.delete(id);
    await Promise.all(work);
  }

  /** When any replica first saw the schedule (now, if this one is first); undefined when the claims are away. */
  private async firstSeen(id: string, schedule: Schedule, now: number): Promise<string | undefined> {
    const key = `schedule-seen:${id}`;
    try {
      if (await this.claims.claim(key, String(now), FIRST_SEEN_TTL_MS)) return String(now);
      return await this.claims.holder(key);
    } catch (err) {
      this.log.warn('could not read when a schedule was first seen; it starts from now', {
        schedule: schedule.key,
        err,
      });
      return undefined;
    }
  }

  private async claimAndFire(id: string, tracked: Tracked, tick: number): Promise<void> {
    const { schedule, firstSeen } = tracked;
    let won: boolean;
    try {
      // Kept past the look-back of any replica that starts later, so none fires it again.
      won = await this.claims.claim(
        `schedule:${id}:${tick}`,
        this.settings.owner,
        this.settings.catchUpMs * 2 + 60_000,
      );
    } catch (err) {
      this.metrics.failed(schedule, 'claim');
      this.log.warn('could not claim a cron tick; it is not fired', { schedule: schedule.key, tick, err });
      return;
    }
    if (!won) return;
    let run: Awaited<ReturnType<RunLeases['begin']>>;
    try {
      run = await this.leases.begin(id, schedule, tick);
    } catch (err) {
      this.metrics.failed(schedule, 'claim');
      this.log.warn('could not take the lease of a cron run; the tick is not fired', {
        schedule: schedule.key,
        tick,
        err,
      });
      return;
    }
    if ('busy' in run) {
      this.metrics.skipped(schedule);
      this.log.info('cron tick skipped: the previous run still runs (concurrencyPolicy Forbid)', {
        schedule: schedule.key,
        tick: new Date(tick).toISOString(),
      });
      return;
    }
    if (run.replaced !== undefined) {
      this.metrics.replaced(schedule);
      this.log.info('cron tick replaces the run still running (concurrencyPolicy Replace)', {
        schedule: schedule.key,
        tick: new Date(tick).toISOString(),
        replaced: run.replaced,
      });
    }
    if (firstSeen !== undefined)
      void this.claims.renew(`schedule-seen:${id}`, firstSeen, FIRST_SEEN_TTL_MS).catch(() => {});
    const fired = this.sink
      .fire(schedule, tick, run.signal)
      .then(
        () => this.metrics.fired(schedule),
        (err: unknown) => {
          if (run.signal.aborted) {
            this.log.info('cron run cancelled', {
              schedule: schedule.key,
              tick,
              reason: String(run.signal.reason),
            });
            return;
          }
          this.metrics.failed(schedule, 'fire');
          this.log.warn('firing a cron tick failed', { schedule: schedule.key, tick, err });
        },
      )
      .finally(() => run.end());
    this.firing.add(fired);
    void fired.finally(() => this.firing.delete(fired));
  }
}

/** `<key>:<hash>`: the Function's uid and the pattern hashed in (they have characters a claim key may not). */
function scheduleId(schedule: Schedule): string {
  const hash = createHash('sha256')
    .update(`${schedule.uid ?? ''}|${schedule.cron}|${schedule.timezone}`)
    .digest('hex')
    .slice(0, 12);
  return `${schedule.key}:${hash}`;
}
