import type { Clock, Logger, Schedule } from '@nimbus/api';

/** The claims a schedule's run is held under (ClaimStore, in Redis across replicas). */
export interface LeaseClaims {
  claim(key: string, owner: string, ttlMs: number): Promise<boolean>;
  release(key: string, owner: string): Promise<boolean>;
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  takeOver(key: string, owner: string, ttlMs: number): Promise<string | undefined>;
}

export interface LeaseSettings {
  /** This replica's name; a run's lease holds `<owner>@<tick>`. */
  readonly owner: string;
  /** How long a run's lease lasts unrenewed: how long a gateway that died blocks a Forbid schedule. */
  readonly leaseMs: number;
}

/** A tick allowed to run: its invocation listens to `signal`, and calls `end` once it is over. */
export interface Run {
  readonly signal: AbortSignal;
  /** The run it cancelled (Replace), as `<owner>@<tick>`. */
  readonly replaced: string | undefined;
  end(): Promise<void>;
}

/** Forbid, while the previous run still holds the lease: the tick does not run. */
export interface Busy {
  readonly busy: true;
}

/**
 * A schedule's concurrency policy, held across gateway replicas. A run of a Forbid or Replace
 * schedule holds a lease, `schedule-run:<schedule id>`, which its gateway renews while the
 * invocation runs and frees when it ends; a gateway that dies lets it lapse after `leaseMs`.
 * Forbid: a tick whose lease is held is skipped. Replace: a tick takes the lease over; the run
 * that held it is cancelled at once when it runs on this gateway, and at its next renewal (at
 * most a second later) when it runs on another one, which finds its lease gone. Allow holds
 * nothing. Cancelling aborts the gateway's request, and the runtime aborts ctx.signal.
 */
export class RunLeases {
  /** Runs of this gateway that hold a lease, by their lease value. */
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly claims: LeaseClaims,
    private readonly clock: Clock,
    private readonly settings: LeaseSettings,
    private readonly log: Logger,
  ) {}

  /** How often a run's lease is renewed: well inside the lease, and soon enough to hear of a Replace. */
  get renewMs(): number {
    return Math.max(100, Math.min(1_000, Math.floor(this.settings.leaseMs / 3)));
  }

  /** Rejects when the lease cannot be reached: the tick is then not fired (at most once). */
  async begin(id: string, schedule: Schedule, tick: number): Promise<Run | Busy> {
    const controller = new AbortController();
    if (schedule.concurrencyPolicy === 'Allow')
      return { signal: controller.signal, replaced: undefined, end: async () => {} };
    const key = `schedule-run:${id}`;
    const token = `${this.settings.owner}@${tick}`;
    let replaced: string | undefined;
    if (schedule.concurrencyPolicy === 'Forbid') {
      if (!(await this.claims.claim(key, token, this.settings.leaseMs))) return { busy: true };
    } else {
      replaced = await this.claims.takeOver(key, token, this.settings.leaseMs);
      if (replaced !== undefined) this.running.get(replaced)?.abort(new RunReplacedError(tick));
    }
    this.running.set(token, controller);
    let timer: unknown;
    const renew = () => {
      timer = this.clock.setTimeout(() => {
        void this.claims.renew(key, token, this.settings.leaseMs).then(
          (held) => {
            if (controller.signal.aborted || !this.running.has(token)) return;
            if (held) return renew();
            if (schedule.concurrencyPolicy === 'Replace') controller.abort(new RunReplacedError(undefined));
            else
              this.log.warn(
                'a cron run lost its lease (Redis away longer than the lease?); a later tick may overlap it',
                {
                  schedule: schedule.key,
                  tick,
                },
              );
          },
          (err: unknown) => {
            this.log.warn('could not renew a cron run lease; trying again', {
              schedule: schedule.key,
              tick,
              err,
            });
            if (this.running.has(token)) renew();
          },
        );
      }, this.renewMs);
    };
    renew();
    return {
      signal: controller.signal,
      replaced,
      end: async () => {
        this.clock.clearTimeout(timer);
        this.running.delete(token);
        await this.claims.release(key, token).catch((err: unknown) =>
          this.log.warn('could not free a cron run lease; it lapses by itself', {
            schedule: schedule.key,
            tick,
            err,
          }),
        );
      },
    };
  }
}

/** Why a run was cancelled: a later tick of its schedule replaced it. */
export class RunReplacedError extends Error {
  constructor(by: number | undefined) {
    super(
      by === undefined
        ? 'replaced by a later tick on another gateway (concurrencyPolicy Replace)'
        : `replaced by the tick of ${new Date(by).toISOString()} (concurrencyPolicy Replace)`,
    );
    this.name = 'RunReplacedError';
  }
}
