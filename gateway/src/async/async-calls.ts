import type { Stores } from '@nimbus/store';
import type { CallQueue } from './call-queue.js';
import type { CallWorker } from './call-worker.js';
import type { CallbackSender } from './callback-sender.js';

/** The async side of a gateway, started with its server and stopped after it. */
export class AsyncCalls {
  constructor(
    readonly queue: CallQueue,
    private readonly worker: CallWorker,
    private readonly callbacks: CallbackSender,
    /** Closed on stop when the gateway made them; a host that passed its own closes them itself. */
    private readonly ownStores: Stores | undefined,
    /** The NATS triggers and cron schedules, which share the queue's connection and the stores. */
    private readonly events: { start(): void; stop(): Promise<void> } | undefined = undefined,
  ) {}

  /** Connects to the queue in the background and starts the workers once the functions are known. */
  start(): void {
    this.queue.start();
    this.worker.start();
    this.events?.start();
  }

  /** Lets the calls in progress finish (recorded and acknowledged), then disconnects. */
  async stop(): Promise<void> {
    await this.events?.stop();
    await this.worker.stop();
    await this.callbacks.close();
    await this.queue.close();
    await this.ownStores?.close();
  }
}
