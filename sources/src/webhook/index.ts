import { parseDuration } from '@nimbus/api';
import {
  PushRefusedError,
  type PushedSource,
  type SecretReader,
  type SourceEvent,
  type SourceKindModule,
} from '../source.js';
import { verifySignature } from './signatures.js';

const DEFAULT_TOLERANCE_MS = 5 * 60_000;
const MEDIA_TYPE = /^[!-~]{1,127}\/[!-~]{1,127}/;

/**
 * Webhooks: a signed POST to `/webhook/{namespace}/{function}/{trigger}` becomes one event,
 * `dev.nimbus.webhook`, whose data is the body as sent (the handler can check it again, or
 * parse it), once the signature is proven with the trigger's secret. The id is the sender's
 * delivery id, so a sender that retries a delivery it thinks failed is stored once.
 */
export const webhookPushed: PushedSource<'webhook'> = {
  async accept(source, request, secrets: SecretReader, now): Promise<SourceEvent[]> {
    const scheme = source.spec.signature ?? 'standard';
    const secret = await secrets.read(source.spec.secret);
    if (secret === '') throw new PushRefusedError(503, "the trigger's secret is empty");
    const tolerance =
      source.spec.tolerance === undefined ? DEFAULT_TOLERANCE_MS : parseDuration(source.spec.tolerance);
    const verified = verifySignature(scheme, request, secret, now, tolerance);
    const given = request.headers['content-type'];
    const contentType = given !== undefined && MEDIA_TYPE.test(given) ? given : 'application/octet-stream';
    return [
      {
        id: verified.id,
        type: 'dev.nimbus.webhook',
        source: `/webhook/${source.namespace}/${source.function}/${source.name}`,
        ...(verified.eventType === undefined ? {} : { subject: verified.eventType }),
        time: verified.signedAt ?? now,
        contentType,
        data: request.body,
      },
    ];
  },
};

export const webhookSource: SourceKindModule<'webhook'> = {
  kind: 'webhook',
  exclusive: false,
  reader: () => undefined,
  pushed: webhookPushed,
};
