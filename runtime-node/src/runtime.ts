import { performance } from 'node:perf_hooks';
import type { Logger } from '@nimbus/api/log';
import { inject, injectable } from 'tsyringe';
import type { RuntimeConfig } from './config.js';
import type { LoadState } from './invoke/handler-slot.js';
import type { SupervisorChannel } from './supervisor-channel.js';
import { TOKENS } from './tokens.js';

export interface Listener {
  listen(): Promise<number>;
  beginShutdown(): void;
  drain(timeoutMs: number): Promise<boolean>;
}

export interface Loadable {
  load(): Promise<LoadState>;
}

export interface Started {
  readonly port: number;
  /** Settles with the handler's load state; never rejects. */
  readonly loaded: Promise<LoadState>;
}

/** Start-up and shutdown of one replica. */
@injectable()
export class Runtime {
  constructor(
    @inject(TOKENS.Config)
    private readonly config: Pick<
      RuntimeConfig,
      'drainTimeoutMs' | 'handler' | 'functionDir' | 'shutdownDelayMs'
    >,
    @inject(TOKENS.RuntimeServer) private readonly server: Listener,
    @inject(TOKENS.HandlerSlot) private readonly handler: Loadable,
    @inject(TOKENS.Supervisor) private readonly supervisor: SupervisorChannel,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.StateStore) private readonly state: { close?(): Promise<void> },
    @inject(TOKENS.Publisher) private readonly publisher: { close?(): Promise<void> },
  ) {}

  /**
   * Binds the port and loads the handler at the same time: start-up is a cold start. A handler that
   * fails to load leaves the process up, reporting the reason on /_/ready and to every invocation.
   * Rejects only if the port cannot be bound.
   */
  async start(): Promise<Started> {
    const loading = this.handler.load();
    const port = await this.server.listen();
    this.supervisor.send({ type: 'listening', port });
    this.logger.info('listening', { port, startupMs: sinceProcessStart() });
    // Reported after 'listening' so the supervisor always sees the port first.
    return { port, loaded: this.report(loading) };
  }

  /**
   * Loads the handler of a pool replica that has just taken on this function: its server listens
   * already, and the supervisor has its port. Reports `ready` or `load-failed` as start() does.
   */
  load(): Promise<LoadState> {
    return this.report(this.handler.load());
  }

  private report(loading: Promise<LoadState>): Promise<LoadState> {
    return loading.then((state) => {
      if (state.status === 'ready') {
        this.logger.info('handler loaded', { handler: this.handlerName(), startupMs: sinceProcessStart() });
        this.supervisor.send({ type: 'ready' });
      } else if (state.status === 'failed') {
        this.logger.error('handler failed to load', {
          handler: this.handlerName(),
          reason: state.reason,
          error: state.error instanceof Error ? state.error : String(state.error),
        });
        this.supervisor.send({ type: 'load-failed', reason: state.reason });
      }
      return state;
    });
  }

  /**
   * Goes on serving for NIMBUS_SHUTDOWN_DELAY_MS (reported as draining), then drains for up to
   * NIMBUS_DRAIN_TIMEOUT_MS, then lets go of ctx.state's connection; resolves
   * whether every request was answered.
   */
  async shutdown(): Promise<boolean> {
    if (this.config.shutdownDelayMs > 0) {
      this.server.beginShutdown();
      this.logger.info('leaving the endpoints', { delayMs: this.config.shutdownDelayMs });
      await new Promise((resolve) => setTimeout(resolve, this.config.shutdownDelayMs));
    }
    const drained = this.server.drain(this.config.drainTimeoutMs);
    // Logged once drain() has synchronously closed the listener, so the line means "no new connections".
    this.logger.info('draining', { timeoutMs: this.config.drainTimeoutMs });
    const answered = await drained;
    try {
      await this.publisher.close?.();
      await this.state.close?.();
    } catch (error) {
      this.logger.warn('closing function state failed', {
        error: error instanceof Error ? error : String(error),
      });
    }
    return answered;
  }

  private handlerName(): string {
    return `${this.config.handler.module}.${this.config.handler.exportName}`;
  }
}

/** Milliseconds since the process started: the cold-start cost an operator wants to see. */
function sinceProcessStart(): number {
  return Math.round(performance.now());
}
