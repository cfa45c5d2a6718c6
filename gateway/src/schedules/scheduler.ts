import { createHash } from 'node:crypto';
import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { type Schedule, dueTicks } from '@nimbus/api';

/** Who may fire a tick: the first replica to claim its key (ClaimStore's claim, SET NX PX in Redis). */
export interface TickClaims {
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
}

/** What a fired tick becomes: an invocation of the function carrying a CloudEvent. */
export interface TickSink {
  fire(schedule: Schedule, tickAt: number): Promise<void>;
}

export interface SchedulerSettings {
  /** This replica's name in its claims. */
  readonly owner: string;
  /** A tick missed by less than this still fires (see dueTicks). */
  readonly catchUpMs: number;
  /** How often the schedules are looked at: the most a tick fires late while all runs well. */
  readonly passMs: number;
}

export interface SchedulerMetrics {
  fired(schedule: Schedule): void;
  missed(schedule: Schedule, count: number): void;
  failed(schedule: Schedule, stage: 'claim' | 'fire'): void;
}

interface Tracked {
  schedule: Schedule;
  /** Ticks up to here are handled (fired by some replica, or skipped). */
  after: number;
}

/**
 * Fires cron triggers exactly once per tick across every gateway replica. Each replica looks at
 * every schedule each pass; for each due tick it claims `schedule:<key>:<pattern hash>:<tick>` and only
 * the replica that wins fires it. A replica that starts looks back `catchUpMs`: ticks it finds
 * fired already are claimed, so it skips them, and ticks nobody fired (no gateway was running)
 * fire late. When the claims cannot be reached (Redis away) the tick is not fired: at most once
 * rather than twice.
 */
export class Scheduler {
  private readonly tracked = new Map<string, Tracked>();
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
  ) {}

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
      // The pattern in the id (hashed: it has spaces), so an edited schedule starts afresh.
      const id = `${schedule.key}:${createHash('sha256').update(`${schedule.cron}|${schedule.timezone}`).digest('hex').slice(0, 12)}`;
      seen.add(id);
      let tracked = this.tracked.get(id);
      if (tracked === undefined) {
        tracked = { schedule, after: now - this.settings.catchUpMs };
        this.tracked.set(id, tracked);
      }
      tracked.schedule = schedule;
      const { fire, missed } = dueTicks(schedule, tracked.after, now, this.settings.catchUpMs);
      tracked.after = now;
      if (missed > 0) {
        this.metrics.missed(schedule, missed);
        this.log.warn('cron ticks missed while no gateway ran', { schedule: schedule.key, missed });
      }
      for (const tick of fire) work.push(this.claimAndFire(id, schedule, tick));
    }
    for (const id of this.tracked.keys()) if (!seen.has(id)) this.tracked.delete(id);
    await Promise.all(work);
  }

  private async claimAndFire(id: string, schedule: Schedule, tick: number): Promise<void> {
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
    const fired = this.sink.fire(schedule, tick).then(
      () => this.metrics.fired(schedule),
      (err: unknown) => {
        this.metrics.failed(schedule, 'fire');
        this.log.warn('firing a cron tick failed', { schedule: schedule.key, tick, err });
      },
    );
    this.firing.add(fired);
    void fired.finally(() => this.firing.delete(fired));
  }
}
