import type { SourceKindModule } from '../source.js';

/** Placeholder until the rabbitmq source lands: it reads nothing and says so. */
export const rabbitMqSource: SourceKindModule<'rabbitmq'> = {
  kind: 'rabbitmq',
  exclusive: false,
  reader: () => {
    throw new Error('the rabbitmq event source is not built yet');
  },
};
