import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { SourceConfigError, type SourceProvisioner } from '../source.js';
import { accessError } from './access-error.js';
import { s3Client } from './client.js';
import { credentialsOf, fieldOf, modeOf, pollIntervalOf, targetOf } from './config.js';

/**
 * What an S3 trigger needs of its store: a bucket its keys may read (HeadBucket), and in mode
 * notify a token to check what is pushed. Nothing is made on the store. The S3 API cannot point a
 * bucket's notifications at a URL: PutBucketNotificationConfiguration names targets the store
 * knows already (an SNS topic or SQS queue ARN on AWS, a webhook target MinIO's admin configured,
 * and versitygw answers NotImplemented, its webhook being one global flag). So the operator points
 * the store's webhook at the gateway's S3 notification URL with the trigger's token, once, and
 * `remove` has nothing to undo (the platform clears the poller's checkpoint).
 */
export const s3Provisioner: SourceProvisioner<'s3'> = {
  async ensure(source, secrets) {
    const target = targetOf(source);
    if (modeOf(source) === 'poll') pollIntervalOf(source);
    else if (source.spec.notifyToken === undefined)
      throw new SourceConfigError(
        fieldOf(source, 'notifyToken'),
        'mode notify needs a notifyToken: without one every notification would be refused',
      );
    else await secrets.read(source.spec.notifyToken);
    const credentials = await credentialsOf(source, secrets);
    const client = s3Client(target, credentials);
    try {
      await client.send(new HeadBucketCommand({ Bucket: target.bucket }));
    } catch (err) {
      throw accessError(source, `checking bucket ${target.bucket}`, err, credentials);
    } finally {
      client.destroy();
    }
  },
  async remove() {
    // ensure made nothing on the store.
  },
};
