import type { SourceKindModule } from '../source.js';

/** Placeholder until the webhook source lands: it reads nothing and says so. */
export const webhookSource: SourceKindModule<'webhook'> = {
  kind: 'webhook',
  exclusive: false,
  reader: () => {
    throw new Error('the webhook event source is not built yet');
  },
};
