import { type Backoff, backoffDelay, errorMessage, sleep } from '@nimbus/api';
import { SourceConfigError, type SourceContext, type SourceReader } from '../source.js';
import { type PostgresTarget, describeError, readTarget } from './connection.js';
import { ALL_OPERATIONS, slotName } from './names.js';
import { ReplicationSession } from './session.js';

/** Reconnects after 0.5 s, 1 s, 2 s … up to 30 s, jittered so gateways that lost one server spread out. */
export const RECONNECT_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000, jitter: 'equal' };

/** Stores in flight at once: enough to hide the sink's round trip, little enough to bound memory. */
export const DEFAULT_STORE_WINDOW = 256;

export interface PostgresReaderOptions {
  window?: number;
  /** For backoff jitter; tests pass a fixed one. */
  random?: () => number;
}

/**
 * Reads a trigger's row changes from its slot until stopped: connects, streams, and on any failure
 * (the server gone, the slot missing, the sink refusing an event) reports it and connects again
 * after RECONNECT_BACKOFF on the context's clock, from where the slot was last confirmed.
 */
export class PostgresReader implements SourceReader {
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private session: ReplicationSession | undefined;
  private connected = false;
  private backlog: number | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly context: SourceContext<'postgres'>,
    private readonly options: PostgresReaderOptions = {},
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.session?.close();
    await this.running;
  }

  private report(): void {
    this.context.sink.report({
      connected: this.connected,
      ...(this.backlog === undefined ? {} : { backlog: this.backlog }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    });
  }

  private async run(): Promise<void> {
    const { source, log } = this.context;
    const slot = slotName(source);
    let attempt = 0;
    while (!this.stopping.signal.aborted) {
      let target: PostgresTarget | undefined;
      try {
        target = await readTarget(source, this.context.secrets);
        const session = await this.open(target, slot);
        if (this.stopping.signal.aborted) {
          await session.close();
          break;
        }
        this.session = session;
        attempt = 0;
        this.connected = true;
        this.lastError = undefined;
        this.report();
        log.info('reading row changes', { slot, source: target.source });
        await session.done;
      } catch (err) {
        this.session = undefined;
        this.connected = false;
        if (this.stopping.signal.aborted) break;
        this.lastError = describe(target, err);
        this.report();
        attempt++;
        const waitMs = backoffDelay(RECONNECT_BACKOFF, attempt, this.options.random);
        log.warn('reading row changes failed', { slot, error: this.lastError, attempt, retryInMs: waitMs });
        await sleep(this.context.clock, waitMs, this.stopping.signal);
      }
    }
    this.session = undefined;
    this.connected = false;
    this.report();
  }

  private open(target: PostgresTarget, slot: string): Promise<ReplicationSession> {
    const { source, sink, clock } = this.context;
    return ReplicationSession.open({
      target,
      slot,
      operations: new Set(source.spec.operations ?? ALL_OPERATIONS),
      sink,
      clock,
      window: this.options.window ?? DEFAULT_STORE_WINDOW,
      backlog: (bytes) => {
        if (bytes === this.backlog) return;
        this.backlog = bytes;
        if (this.connected) this.report();
      },
    });
  }
}

/** Why reading failed, in words with no credentials. */
function describe(target: PostgresTarget | undefined, err: unknown): string {
  if (err instanceof SourceConfigError) return `${err.field}: ${err.message}`;
  return target === undefined ? errorMessage(err) : describeError(target, err);
}
