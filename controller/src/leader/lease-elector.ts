import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import { type KubeClient, type KubeObject, RESOURCES, isConflict, isNotFound } from '@nimbus/kube';
import { type LeaseRecord, type Observation, leaseAction, microTime, recordKey } from './lease-decision.js';

export interface LeaseSettings {
  name: string;
  namespace: string;
  identity: string;
  /** How long a leader's claim lasts unrenewed before others may take over. */
  leaseDurationMs: number;
  /** A leader that cannot renew for this long steps down (less than the lease duration). */
  renewDeadlineMs: number;
  /** How often candidates try and leaders renew. */
  retryPeriodMs: number;
}

export interface LeadershipListener {
  startedLeading(): void;
  stoppedLeading(): void;
}

interface Lease extends KubeObject {
  spec?: LeaseRecord;
}

/**
 * Leader election through a coordination.k8s.io Lease, so several controller replicas can run
 * and exactly one acts. Every write is conditional on the Lease's resourceVersion; a lost race
 * (409) just means another candidate moved first.
 */
export class LeaseElector {
  private observed: Observation | undefined;
  private leading = false;
  private lastRenew = 0;
  private timer: unknown;
  private stopped = true;
  private tick: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly settings: LeaseSettings,
    private readonly listener: LeadershipListener,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /**
   * Stops campaigning. With `release`, a leader hands the Lease back (holder emptied), so a
   * standby takes over at its next try rather than after the lease duration.
   */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.tick;
    if (!this.leading) return;
    this.step(false);
    if (!release) return;
    try {
      const lease = await this.client.get<Lease>(
        RESOURCES.leases,
        this.settings.namespace,
        this.settings.name,
      );
      if (lease.spec?.holderIdentity !== this.settings.identity) return;
      await this.client.replace(RESOURCES.leases, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(this.clock.now()),
        },
      });
      this.log.info('released the lease', { lease: this.settings.name });
    } catch (err) {
      this.log.warn('could not release the lease; a standby takes over when it expires', { err });
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.tick = this.tryOnce().finally(() => this.schedule(this.settings.retryPeriodMs));
    }, ms);
  }

  private async tryOnce(): Promise<void> {
    const { namespace, name, identity } = this.settings;
    const now = this.clock.now();
    try {
      const lease = await this.client
        .get<Lease>(RESOURCES.leases, namespace, name)
        .catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
      if (lease?.spec !== undefined) {
        const key = recordKey(lease.spec);
        if (this.observed?.record !== key) this.observed = { record: key, at: now };
      }
      const action = leaseAction(
        lease?.spec ?? (lease === undefined ? undefined : {}),
        identity,
        this.observed,
        now,
      );
      if (action === 'wait') {
        if (this.leading) this.step(false);
        return;
      }
      const spec: LeaseRecord = {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.settings.leaseDurationMs / 1000),
        renewTime: microTime(now),
        acquireTime: action === 'renew' ? lease?.spec?.acquireTime : microTime(now),
        leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (action === 'acquire' ? 1 : 0),
      };
      if (action === 'create') {
        await this.client.create(RESOURCES.leases, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...spec, leaseTransitions: 0 },
        } as Lease);
      } else {
        await this.client.replace(RESOURCES.leases, { ...(lease as Lease), spec });
      }
      this.lastRenew = now;
      this.observed = { record: recordKey(spec), at: now };
      if (!this.leading) {
        this.log.info('became the leader', { lease: name, identity });
        this.step(true);
      }
    } catch (err) {
      if (!isConflict(err)) this.log.warn('leader election: the Lease could not be read or written', { err });
      if (this.leading && now - this.lastRenew >= this.settings.renewDeadlineMs) {
        this.log.error('could not renew the lease in time; stepping down', { lease: name });
        this.step(false);
      }
    }
  }

  private step(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (leading) this.listener.startedLeading();
    else this.listener.stoppedLeading();
  }
}
