import type { AddressInfo } from 'node:net';
import type { Tracing } from '@nimbus/telemetry';
import { inject, injectable } from 'tsyringe';
import type { AsyncCalls } from './async/async-calls.js';
import type { MetricsServer } from './http/metrics-server.js';
import type { GatewayServer } from './http/server.js';
import type { Invoker } from './invoke/invoker.js';
import type { StateService } from './state/state-service.js';
import type { FunctionStats } from './stats/function-stats.js';
import { TOKENS } from './tokens.js';

/**
 * The gateway as a process runs it: the HTTP server and the async workers, started and stopped in
 * that order. The composition root hands this out (TOKENS.Gateway), so the server, which the
 * workers have no business with, neither starts nor stops them.
 */
@injectable()
export class Gateway {
  constructor(
    @inject(TOKENS.Server) readonly server: GatewayServer,
    @inject(TOKENS.AsyncCalls) private readonly asyncCalls: AsyncCalls,
    @inject(TOKENS.Invoker) private readonly invoker: Pick<Invoker, 'close'>,
    @inject(TOKENS.OwnPorts) private readonly ownPorts: Set<number>,
    @inject(TOKENS.MetricsServer) private readonly metrics: MetricsServer,
    @inject(TOKENS.StateService) private readonly state: { service: StateService | undefined },
    @inject(TOKENS.Tracing) private readonly tracing: Pick<Tracing, 'shutdown'>,
    @inject(TOKENS.FunctionStats) private readonly stats: Pick<FunctionStats, 'start' | 'stop'>,
  ) {}

  /** The state service function pods reach ctx.state through, when the config has one. */
  get stateService(): StateService | undefined {
    return this.state.service;
  }

  /**
   * Listens (on the metrics and state ports too, when there are ones), then starts the async
   * workers, which connect to the queue in the background, and the dashboard's history.
   */
  async listen(): Promise<AddressInfo> {
    const state = await this.state.service?.listen();
    // The state port is the gateway's own too: no callback may be sent there.
    if (state !== undefined) this.ownPorts.add(state.port);
    const address = await this.server.listen();
    this.ownPorts.add(address.port);
    this.metricsAddress = await this.metrics.listen();
    // The metrics port is the gateway's own too: no callback may be sent there.
    if (this.metricsAddress !== undefined) this.ownPorts.add(this.metricsAddress.port);
    this.asyncCalls.start();
    await this.stats.start();
    return address;
  }

  /** Where `/metrics` is served without a key; undefined without NIMBUS_METRICS_PORT. */
  metricsAddress: AddressInfo | undefined;

  /**
   * Drains the server (`graceMs` as GatewayServer.close takes it), then lets the async workers
   * finish the calls they run (recorded and acknowledged) and disconnect; the invoker's
   * connections to replicas close last, since both the server and the workers call through them;
   * then the spans not yet sent go.
   */
  async close(graceMs?: number): Promise<void> {
    await this.server.close(graceMs);
    await this.stats.stop();
    await this.state.service?.close();
    await this.metrics.close();
    await this.asyncCalls.stop();
    await this.invoker.close();
    await this.tracing.shutdown();
  }
}
