import type { SourceKindModule } from '../source.js';
import { postgresProvisioner } from './provisioner.js';
import { PostgresReader } from './reader.js';

export { readRawChanges } from './raw.js';
export { slotName } from './names.js';
export { PostgresReader, RECONNECT_BACKOFF } from './reader.js';

/**
 * Row changes of PostgreSQL tables, read through logical replication (pgoutput) from a slot of the
 * trigger's own: one reader per trigger over all gateways, since a slot streams to one client at a
 * time and its order is the commit order. See docs/event-sources.md.
 */
export const postgresSource: SourceKindModule<'postgres'> = {
  kind: 'postgres',
  exclusive: true,
  reader: (context) => new PostgresReader(context),
  provisioner: postgresProvisioner,
};
