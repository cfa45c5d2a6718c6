import type { ConfirmChannel, GetMessage } from 'amqplib';
import type { BrokerConnection } from './broker-channel.js';
import { NOT_FOUND, replyCode } from './broker-errors.js';

/** A binding Nimbus made; it carries the trigger's marker in its arguments, so it is never a user's. */
export interface MadeBinding {
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
}

/**
 * What Nimbus bound for one trigger. Queues are not recorded: anyone who may publish to the vhost
 * can forge a record, and one naming a queue must never get it deleted. A forged binding is
 * harmless: unbinding it with the trigger's marker touches only what Nimbus bound for the trigger.
 */
export interface ProvisionRecord {
  readonly bindings: readonly MadeBinding[];
}

export const EMPTY_RECORD: ProvisionRecord = { bindings: [] };

/** Messages read from a record queue at most: it holds one, two after a crash mid-update. */
const MAX_RECORDS = 64;

/**
 * AMQP 0-9-1 cannot list a queue's bindings (only the management HTTP API can), so the provisioner
 * keeps what it made in a durable queue of the trigger's own, as persistent messages. An update
 * reads every record unacked, publishes the new one with a confirm, then acks the old: a crash
 * anywhere in between leaves the old records in the queue, so nothing made is ever forgotten.
 * Callers record the union of the old and the new before acting, and the new alone after.
 */
export class RecordQueue {
  private held: GetMessage[] = [];

  private constructor(
    private readonly channel: ConfirmChannel,
    readonly name: string,
  ) {}

  /** The trigger's record queue; made when `create`, else undefined when there is none. */
  static async open(
    broker: BrokerConnection,
    name: string,
    create: boolean,
  ): Promise<RecordQueue | undefined> {
    try {
      await broker.run((channel) =>
        create ? channel.assertQueue(name, { durable: true }) : channel.checkQueue(name),
      );
    } catch (err) {
      if (!create && replyCode(err) === NOT_FOUND) return undefined;
      throw err;
    }
    return new RecordQueue(await broker.confirmChannel(), name);
  }

  /** Every record in the queue, merged; they stay held (unacked) until the next `replace`. */
  async read(): Promise<ProvisionRecord> {
    let merged = EMPTY_RECORD;
    while (this.held.length < MAX_RECORDS) {
      const message = await this.channel.get(this.name, { noAck: false });
      if (message === false) break;
      this.held.push(message);
      merged = mergeRecords(merged, parseRecord(message.content));
    }
    return merged;
  }

  /** Stores `record` as the one record (once the broker confirms it), then lets go of those read. */
  async replace(record: ProvisionRecord): Promise<void> {
    this.channel.sendToQueue(this.name, Buffer.from(JSON.stringify({ v: 1, ...record })), {
      persistent: true,
      contentType: 'application/json',
    });
    await this.channel.waitForConfirms();
    for (const message of this.held) this.channel.ack(message);
    this.held = [];
  }

  /** Deletes the record queue with what it holds: nothing of the trigger is left to remember. */
  async delete(): Promise<void> {
    this.held = [];
    await this.channel.deleteQueue(this.name);
    await this.channel.close().catch(() => {});
  }
}

export function mergeRecords(a: ProvisionRecord, b: ProvisionRecord): ProvisionRecord {
  return { bindings: uniqueBindings([...a.bindings, ...b.bindings]) };
}

export function bindingKey(b: MadeBinding): string {
  return JSON.stringify([b.queue, b.exchange, b.routingKey]);
}

function uniqueBindings(bindings: readonly MadeBinding[]): MadeBinding[] {
  return [...new Map(bindings.map((b) => [bindingKey(b), b])).values()];
}

/** Anyone with access to the vhost can publish here: what is not a record is skipped. */
function parseRecord(content: Buffer): ProvisionRecord {
  let value: unknown;
  try {
    value = JSON.parse(content.toString('utf8'));
  } catch {
    return EMPTY_RECORD;
  }
  const { bindings } = (value ?? {}) as { bindings?: unknown };
  const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= 255;
  return {
    bindings: Array.isArray(bindings)
      ? bindings.filter(
          (b): b is MadeBinding =>
            typeof b === 'object' &&
            b !== null &&
            isText(b.queue) &&
            isText(b.exchange) &&
            isText(b.routingKey),
        )
      : [],
  };
}
