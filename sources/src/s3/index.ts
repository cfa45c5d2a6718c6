import type { SourceKindModule } from '../source.js';

/** Placeholder until the s3 source lands: it reads nothing and says so. */
export const s3Source: SourceKindModule<'s3'> = {
  kind: 's3',
  exclusive: false,
  reader: () => {
    throw new Error('the s3 event source is not built yet');
  },
};
