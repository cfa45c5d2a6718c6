import type { SourceKindModule } from '../source.js';
import { RabbitMqProvisioner } from './provisioner.js';
import { RabbitMqReader } from './reader.js';

export { RabbitMqReader, type RabbitMqReaderOptions } from './reader.js';
export { RabbitMqProvisioner, type RemoveOutcome, TRIGGER_MARKER, recordQueueName } from './provisioner.js';
export { RABBITMQ_EVENT_TYPE, attemptOf, messageEvent, messageId } from './message-event.js';
export { parseBrokerUrl } from './broker-url.js';

/**
 * Messages of an AMQP 0-9-1 queue. Not exclusive: every gateway replica consumes the queue and
 * RabbitMQ shares the messages out, each replica holding at most `prefetch` unacked.
 */
export const rabbitMqSource: SourceKindModule<'rabbitmq'> = {
  kind: 'rabbitmq',
  exclusive: false,
  reader: (context) => new RabbitMqReader(context),
  provisioner: new RabbitMqProvisioner(),
};
