import { type Logger, type ResolvedSource, sourceKey } from '@nimbus/api';
import { type SecretReader, SourceConfigError, type SourceProvisioner } from '../source.js';
import { type BrokerConnection, withBroker } from './broker-channel.js';
import {
  NOT_FOUND,
  NOT_IMPLEMENTED,
  PRECONDITION_FAILED,
  brokerFailure,
  replyCode,
} from './broker-errors.js';
import { type BrokerAddress, fieldOf, readBrokerAddress } from './broker-url.js';
import { EMPTY_RECORD, type MadeBinding, RecordQueue, bindingKey, mergeRecords } from './provision-record.js';

/** The binding argument that marks a binding as Nimbus's, for one trigger (`namespace/function/trigger`). */
export const TRIGGER_MARKER = 'x-nimbus-trigger';

type RabbitSource = ResolvedSource<'rabbitmq'>;

/** What `remove` left on the broker, and why. */
export interface RemoveOutcome {
  /** The declared queue, kept because deleting it could lose messages. */
  readonly keptQueue?: { readonly queue: string; readonly reason: string };
}

/** The durable queue that records what Nimbus bound for the trigger (see RecordQueue). */
export function recordQueueName(source: RabbitSource): string {
  return `nimbus.provisioned/${sourceKey(source)}`;
}

/**
 * Makes what a trigger needs on its broker and removes it when the trigger goes.
 *
 * With `declare`, the queue is a durable classic queue. A quorum queue would survive the loss of a
 * broker node, but RabbitMQ refuses to delete one only-if-empty (540 NOT_IMPLEMENTED): removal
 * could then lose a message published between a check and the delete. A classic queue's
 * if-empty/if-unused delete is atomic in the broker, so removing a trigger never loses a message.
 * An existing queue of another type is taken as it is (and never deleted); an operator who wants
 * quorum queues declares them and sets no `declare`.
 *
 * Bindings carry the trigger's marker in their arguments, so they are distinct from a user's
 * binding of the same exchange and key and unbinding them never touches one.
 */
export class RabbitMqProvisioner implements SourceProvisioner<'rabbitmq'> {
  constructor(private readonly options: { readonly log?: Logger } = {}) {}

  async ensure(source: RabbitSource, secrets: SecretReader): Promise<void> {
    const declare = source.spec.declare === true;
    await this.session(source, secrets, async (broker, address) => {
      if (declare) await declareQueue(broker, source);
      else await checkQueue(broker, source, address);
      const desired = declare ? bindingsOf(source) : [];
      const record = await RecordQueue.open(broker, recordQueueName(source), desired.length > 0);
      const prior = record === undefined ? EMPTY_RECORD : await record.read();
      // Recorded before it is made: a crash part way leaves nothing unrecorded.
      if (record !== undefined && desired.length > 0)
        await record.replace(mergeRecords(prior, { bindings: desired }));
      for (const [index, binding] of desired.entries()) await bind(broker, source, binding, index);
      const wanted = new Set(desired.map(bindingKey));
      for (const binding of prior.bindings)
        if (!wanted.has(bindingKey(binding))) await unbind(broker, source, binding);
      if (record === undefined) return;
      if (desired.length === 0) await record.delete();
      else {
        await record.read();
        await record.replace({ bindings: desired });
      }
    });
  }

  async remove(source: RabbitSource, secrets: SecretReader): Promise<void> {
    await this.removeWithOutcome(source, secrets);
  }

  /**
   * Unbinds what Nimbus bound and forgets its record; deletes a declared queue only when it is empty
   * and nothing consumes it. A queue kept is said in the outcome and logged.
   */
  async removeWithOutcome(source: RabbitSource, secrets: SecretReader): Promise<RemoveOutcome> {
    const outcome = await this.session(source, secrets, async (broker): Promise<RemoveOutcome> => {
      const record = await RecordQueue.open(broker, recordQueueName(source), false);
      const prior = record === undefined ? EMPTY_RECORD : await record.read();
      const declared = source.spec.declare === true;
      const all = mergeRecords(prior, { bindings: declared ? bindingsOf(source) : [] });
      for (const binding of all.bindings) await unbind(broker, source, binding);
      await record?.delete();
      // Last: a broker that cannot delete only-if-empty closes the whole connection.
      return declared ? deleteIfEmpty(broker, source.spec.queue) : {};
    });
    if (outcome.keptQueue !== undefined)
      this.options.log?.warn('rabbitmq source: the declared queue is kept', {
        trigger: sourceKey(source),
        ...outcome.keptQueue,
      });
    return outcome;
  }

  private async session<T>(
    source: RabbitSource,
    secrets: SecretReader,
    op: (broker: BrokerConnection, address: BrokerAddress) => Promise<T>,
  ): Promise<T> {
    const address = await readBrokerAddress(source, secrets);
    try {
      return await withBroker(address, (broker) => op(broker, address));
    } catch (err) {
      throw brokerFailure(err, address, source);
    }
  }
}

function bindingsOf(source: RabbitSource): MadeBinding[] {
  return (source.spec.bindings ?? []).map((b) => ({
    queue: source.spec.queue,
    exchange: b.exchange,
    routingKey: b.routingKey ?? '',
  }));
}

function markerOf(source: RabbitSource): Record<string, string> {
  return { [TRIGGER_MARKER]: sourceKey(source) };
}

async function declareQueue(broker: BrokerConnection, source: RabbitSource): Promise<void> {
  const { queue } = source.spec;
  try {
    await broker.run((channel) => channel.assertQueue(queue, { durable: true }));
  } catch (err) {
    if (replyCode(err) !== PRECONDITION_FAILED) throw err;
    // It exists with other arguments (a quorum queue, a TTL): used as it is. Reading it passively
    // also proves it is there.
    await broker.run((channel) => channel.checkQueue(queue));
  }
}

async function checkQueue(
  broker: BrokerConnection,
  source: RabbitSource,
  address: BrokerAddress,
): Promise<void> {
  const { queue } = source.spec;
  try {
    await broker.run((channel) => channel.checkQueue(queue));
  } catch (err) {
    if (replyCode(err) !== NOT_FOUND) throw err;
    throw new SourceConfigError(
      fieldOf(source, 'queue'),
      `names the queue ${JSON.stringify(queue)}, which does not exist in vhost ${JSON.stringify(address.vhost)}; create it, or set declare: true`,
    );
  }
}

async function bind(
  broker: BrokerConnection,
  source: RabbitSource,
  b: MadeBinding,
  index: number,
): Promise<void> {
  try {
    await broker.run((channel) => channel.bindQueue(b.queue, b.exchange, b.routingKey, markerOf(source)));
  } catch (err) {
    if (replyCode(err) !== NOT_FOUND) throw err;
    throw new SourceConfigError(
      fieldOf(source, `bindings[${index}].exchange`),
      `names the exchange ${JSON.stringify(b.exchange)}, which does not exist`,
    );
  }
}

/** Unbinding what is not there (a binding, its exchange, its queue) succeeds: idempotent. */
async function unbind(broker: BrokerConnection, source: RabbitSource, b: MadeBinding): Promise<void> {
  try {
    await broker.run((channel) => channel.unbindQueue(b.queue, b.exchange, b.routingKey, markerOf(source)));
  } catch (err) {
    if (replyCode(err) !== NOT_FOUND) throw err;
  }
}

async function deleteIfEmpty(broker: BrokerConnection, queue: string): Promise<RemoveOutcome> {
  const kept = (reason: string): RemoveOutcome => ({ keptQueue: { queue, reason } });
  try {
    await broker.run((channel) => channel.deleteQueue(queue, { ifEmpty: true, ifUnused: true }));
    return {};
  } catch (err) {
    switch (replyCode(err)) {
      case NOT_FOUND:
        return {};
      case PRECONDITION_FAILED:
        return kept('it still holds messages or has consumers; delete it by hand once drained');
      case NOT_IMPLEMENTED:
        return kept('it is a quorum queue, which cannot be deleted only when empty; delete it by hand');
      default:
        throw err;
    }
  }
}
