import type { SourceKindModule } from '../source.js';
import { mqttProvisioner } from './provisioner.js';
import { MqttReader } from './reader.js';

/**
 * Messages on MQTT topic filters, at QoS 1 in a persistent session (MQTT 5), PUBACKed once stored.
 * Exclusive: one reader per trigger over every gateway, since two clients with one client id would
 * keep taking the session from each other.
 */
export const mqttSource: SourceKindModule<'mqtt'> = {
  kind: 'mqtt',
  exclusive: true,
  reader: (context) => new MqttReader(context),
  provisioner: mqttProvisioner,
};

export { MQTT_IN_FLIGHT, MQTT_RECONNECT, MqttReader } from './reader.js';
export { MQTT_MESSAGE_TYPE, contentTypeOf, messageEvent, messageId, printable } from './event.js';
export { clientIdOf, parseEndpoint } from './endpoint.js';
