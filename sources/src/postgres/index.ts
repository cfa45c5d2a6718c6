import type { SourceKindModule } from '../source.js';

/** Placeholder until the postgres source lands: it reads nothing and says so. */
export const postgresSource: SourceKindModule<'postgres'> = {
  kind: 'postgres',
  exclusive: false,
  reader: () => {
    throw new Error('the postgres event source is not built yet');
  },
};
