import type { Logger } from '@nimbus/api';
import type { Clock } from '@nimbus/api';
import type { LeaseElector } from '../leader/lease-elector.js';
import type { FunctionController } from '../reconcile/function-controller.js';
import type { HealthServer } from './health-server.js';

/**
 * The controller process in a cluster: informers and the health server start at once; the
 * reconcilers act while this replica leads (or always, with leader election off).
 */
export class ClusterController {
  private metricsPort = 0;

  constructor(
    private readonly functions: FunctionController,
    private readonly elector: LeaseElector | undefined,
    private readonly health: HealthServer,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Closes what the controller connected to besides the API server (NATS). */
    private readonly closeClients: () => Promise<void> | undefined = () => undefined,
  ) {}

  /** The port /metrics, /healthz and /readyz listen on (useful when 0 was asked for). */
  get port(): number {
    return this.metricsPort;
  }

  get isLeader(): boolean {
    return this.elector?.isLeader ?? true;
  }

  async start(port: number, host: string): Promise<void> {
    this.metricsPort = await this.health.listen(port, host);
    this.functions.start();
    if (this.elector === undefined) this.functions.startedLeading();
    else this.elector.start();
    this.log.info('controller started', {
      metricsPort: this.metricsPort,
      leaderElection: this.elector !== undefined,
    });
  }

  /**
   * Graceful stop: stop taking work, let reconciles in flight finish (up to `drainMs`), hand the
   * lease back so a standby takes over at once, close the health server. `release: false` is a
   * crash as far as the others can tell: they wait out the lease.
   */
  async stop(drainMs: number, release = true): Promise<void> {
    this.functions.stoppedLeading();
    let timer: unknown;
    const drained = await Promise.race([
      this.functions.stop().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = this.clock.setTimeout(() => resolve(false), drainMs);
      }),
    ]);
    this.clock.clearTimeout(timer);
    if (!drained)
      this.log.warn('reconciles still in flight at shutdown; they are retried by the next leader', {
        drainMs,
      });
    await this.elector?.stop(release);
    await this.closeClients();
    await this.health.close();
  }
}
