import type { SourceKindModule } from '../source.js';
import { modeOf } from './config.js';
import { S3Poller } from './poller.js';
import { s3Provisioner } from './provisioner.js';
import { s3Pushed } from './pushed.js';

/**
 * Objects created and deleted in a bucket of S3-compatible storage. Mode notify: the store pushes
 * S3 event notifications to the gateway (`pushed`), and no reader runs. Mode poll: one reader per
 * trigger over every gateway (exclusive, under a lease) lists the bucket and keeps its view in the
 * trigger's checkpoint.
 */
export const s3Source: SourceKindModule<'s3'> = {
  kind: 's3',
  exclusive: true,
  reader: (context) => (modeOf(context.source) === 'poll' ? new S3Poller(context) : undefined),
  pushed: s3Pushed,
  provisioner: s3Provisioner,
};

export { S3Poller, DEFAULT_POLLER_OPTIONS, type PollerOptions } from './poller.js';
export { OBJECT_EVENT_TYPE } from './object-event.js';
