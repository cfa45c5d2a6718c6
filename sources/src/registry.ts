import type { SourceKind } from '@nimbus/api';
import type { SourceKindModule } from './source.js';

/**
 * Each kind's module, loaded on first use: a gateway without a Postgres trigger never loads a
 * Postgres client.
 */
const LOADERS: { [K in SourceKind]: () => Promise<SourceKindModule<K>> } = {
  postgres: async () => (await import('./postgres/index.js')).postgresSource,
  s3: async () => (await import('./s3/index.js')).s3Source,
  rabbitmq: async () => (await import('./rabbitmq/index.js')).rabbitMqSource,
  mqtt: async () => (await import('./mqtt/index.js')).mqttSource,
  webhook: async () => (await import('./webhook/index.js')).webhookSource,
};

export function loadSourceKind<K extends SourceKind>(kind: K): Promise<SourceKindModule<K>> {
  return LOADERS[kind]();
}
